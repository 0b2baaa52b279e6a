'use strict';
// Django's autocomplete widget (select2) draws a search box without a label (axe:
// critical). Name each box after the field it searches, whenever select2 draws one,
// whatever the order the admin's scripts run in.
function labelAutocompleteSearches() {
  document.querySelectorAll('.select2-search__field:not([aria-label])').forEach((search) => {
    const select = search.closest('.select2-container')?.previousElementSibling;
    const label = select && document.querySelector(`label[for="${select.id}"]`);
    if (label) {
      search.setAttribute('aria-label', `Search ${label.textContent.replace(/:$/, '').trim()}`);
    }
  });
}
new MutationObserver(labelAutocompleteSearches).observe(document.documentElement, {
  childList: true,
  subtree: true,
});

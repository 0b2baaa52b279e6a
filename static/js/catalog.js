// The catalog's filters apply as soon as they change; the form's button remains for
// browsers without scripts.
for (const control of document.querySelectorAll(".filters select, .filters input[type=checkbox]")) {
  control.addEventListener("change", () => control.form.requestSubmit());
}

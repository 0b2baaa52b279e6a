// Stripe card entry for a form that pays: Stripe.js takes the card in its own field,
// the store asks for a SetupIntent for the shopper's email, Stripe.js confirms it with
// the card, and the form posts only the SetupIntent's id. Card details never reach the
// store's server.
(function () {
  "use strict";
  const mountPoint = document.getElementById("card-element");
  if (!mountPoint || typeof Stripe === "undefined") return;
  const form = mountPoint.closest("form");
  const errors = document.getElementById("card-errors");
  const token = form.querySelector('input[name="payment_method"]');
  const stripe = Stripe(mountPoint.dataset.stripeKey);
  const card = stripe.elements().create("card");
  card.mount(mountPoint);

  function email() {
    const field = form.querySelector('input[name="email"]');
    return field ? field.value : mountPoint.dataset.email;
  }

  async function cardSaved() {
    const body = new URLSearchParams({ email: email() });
    const response = await fetch(mountPoint.dataset.setupUrl, {
      method: "POST",
      headers: { "X-CSRFToken": form.querySelector('input[name="csrfmiddlewaretoken"]').value },
      body: body,
      credentials: "same-origin",
    });
    const setup = await response.json();
    if (!response.ok) return setup.error;
    const result = await stripe.confirmCardSetup(setup.client_secret, {
      payment_method: { card: card },
    });
    if (result.error) return result.error.message || "Your card was declined.";
    token.value = result.setupIntent.id;
    return "";
  }

  form.addEventListener("submit", async (event) => {
    if (token.value) return; // saved already: the form posts
    event.preventDefault();
    errors.textContent = "";
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const problem = await cardSaved();
      if (problem) {
        errors.textContent = problem + " Nothing was charged.";
      } else {
        form.submit();
        return;
      }
    } catch (error) {
      errors.textContent = "We could not reach the payment provider. Nothing was charged; please try again.";
    }
    button.disabled = false;
  });
})();

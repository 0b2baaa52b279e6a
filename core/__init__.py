"""The floor every app stands on: helpers the apps share, importing no app and not the
wiring package (storefront). See docs/decisions/0008-core-is-the-floor.md."""

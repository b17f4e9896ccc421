// The run sheet's print button (the app's CSP allows no inline handlers).
document.getElementById("print").addEventListener("click", () => window.print());

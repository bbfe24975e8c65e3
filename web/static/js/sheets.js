// Bottom sheets over the stream: one open at a time, a scrim behind, Escape closes and
// gives the focus back to what opened the sheet.

import { $ } from "./dom.js";

let current = null;
let onCloseCurrent = null;
let opener = null; // the element that had the focus when the sheet opened

export function openSheet(sheet, onClose) {
  if (current && current !== sheet) closeSheet();
  if (current !== sheet) opener = document.activeElement;
  current = sheet;
  onCloseCurrent = onClose || null;
  const scrim = $("#scrim");
  scrim.hidden = false;
  sheet.hidden = false;
  requestAnimationFrame(() => {
    scrim.classList.add("show");
    sheet.classList.add("show");
  });
  // Focus what the sheet asks for, else its main button (not a field: no phone keyboard).
  const focus = sheet.querySelector("[autofocus]") || sheet.querySelector("button.btn-primary");
  if (focus) setTimeout(() => focus.focus({ preventScroll: true }), 60);
}

export function closeSheet() {
  if (!current) return;
  const sheet = current;
  const done = onCloseCurrent;
  current = null;
  onCloseCurrent = null;
  sheet.classList.remove("show");
  $("#scrim").classList.remove("show");
  sheet.hidden = true;
  $("#scrim").hidden = true;
  if (done) done();
  const back = opener;
  opener = null;
  if (back && back.isConnected && typeof back.focus === "function") back.focus({ preventScroll: true });
}

export function isOpen(sheet) {
  return current === sheet;
}

export function setupSheets() {
  $("#scrim").addEventListener("click", closeSheet);
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") closeSheet();
  });
}

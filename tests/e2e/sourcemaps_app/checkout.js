// Checkout: totals the cart and formats the receipt.

import { newCart, totalOf } from "./cart.js";

function formatReceipt(total) {
  return `total: ${(total / 100).toFixed(2)}`;
}

export function checkout(items) {
  const cart = newCart(items);
  const total = totalOf(cart); // frame:checkout
  return formatReceipt(total);
}

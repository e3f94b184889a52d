// The cart: a list of items, and its total (which asks pricing for each item).

import { priceOf } from "./pricing.js";

export function newCart(items) {
  return { items: items.map((item) => ({ ...item })) };
}

export function totalOf(cart) {
  let total = 0;
  for (const item of cart.items) {
    total += priceOf(item); // frame:totalOf
  }
  return total;
}

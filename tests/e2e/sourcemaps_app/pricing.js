// Prices of the shop's items. `priceOf` throws for an item without a price: the error
// every run of the app captures. Lines marked `frame:` are where the stack frames of that
// error must resolve to (tests/e2e/test_sourcemaps_e2e.py reads the markers).

const PRICES = { apple: 120, pear: 95 };

export function priceOf(item) {
  const price = PRICES[item.sku];
  if (price === undefined) {
    throw new Error(`no price for ${item.sku} (${BUILD_LABEL})`); // frame:priceOf
  }
  return price * item.quantity;
}

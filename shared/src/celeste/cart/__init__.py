"""The cart and the wishlist: lines, caps, and merging a guest's into an account's."""

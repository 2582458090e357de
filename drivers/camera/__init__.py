"""Camera scanning: frame sources, a latest-frame-wins slot, and a decoder chain that reads more than any one library."""

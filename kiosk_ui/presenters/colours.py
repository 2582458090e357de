"""The verdict palette: readable from a metre away, distinct for colour-blind staff by text too (never colour alone)."""
GREEN = (0.05, 0.55, 0.20, 1)      # accepted
RED = (0.78, 0.08, 0.08, 1)        # refused
ORANGE = (0.93, 0.50, 0.02, 1)     # attention: someone must look
BLUE = (0.08, 0.30, 0.62, 1)       # the same code read again: nothing new, never a first entry
PURPLE = (0.42, 0.16, 0.55, 1)     # quick cancellation mode (never the door colours)
NEUTRAL = (0.12, 0.13, 0.16, 1)    # waiting for a ticket
WHITE = (1, 1, 1, 1)
BLACK = (0, 0, 0, 1)

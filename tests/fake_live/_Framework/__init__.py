"""A fake of Live's _Framework package (the ControlSurface base class only)."""

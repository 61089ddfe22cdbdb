"""Pure OpenCV/numpy page analysis: decode, clean, form lines, glyphs, normalisation, templates."""

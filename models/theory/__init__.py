"""Symbolic music theory: harmony (Roman numerals, functions, progressions, cadences) and rhythm (metric
hierarchy, syncopation, density, polyrhythm, complexity). Inputs are plain numbers and labels; no audio."""

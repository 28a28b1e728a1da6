"""The coach: what a finished or failing run's curves and evaluation say in plain words (diagnoses), and the
one-click settings change each one suggests (remedies). Reads run folders; the engine never imports it."""

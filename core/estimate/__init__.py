"""What a run will cost before it starts, measured on this machine: a probe process trains a few real steps of
the exact configuration, the whole run is extrapolated from it, and advice says what to change when it is too long
or does not fit in memory."""

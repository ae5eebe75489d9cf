"""Parameter sweeps judged out of sample: data splits and the significance of the best trial."""

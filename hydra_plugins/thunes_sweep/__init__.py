"""THUNES' Hydra plugins: the sweeper and the in-process launcher. Hydra only loads plugins
from the `hydra_plugins` namespace; their logic lives in `thunes.sweep`."""

"""The example model: a synthetic buyer-seller messaging data set and its classifier."""

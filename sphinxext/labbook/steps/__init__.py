"""Steps: what a page asks of a lab (the model) and console text read into commands."""

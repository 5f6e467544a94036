"""The example: buyer-to-seller messages labelled with intent, on the pretrained all-MiniLM-L6-v2 encoder."""

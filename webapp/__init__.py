"""The web page of serve.py: draw a digit, watch the network read it and look inside.

    webapp/handler.py     HTTP: the page's files (page/), the endpoints, a JSON error for every mistake
    webapp/endpoints.py   an uploaded image -> evaluate.py's answer, or one digit explained
    webapp/explain.py     a digit's way through the layers as pictures: activations, filters, saliency
    webapp/network.py     the model, run forward and back by its own kernels, one pass at a time
"""

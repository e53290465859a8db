from videosce.registry import Registry

METHODS = Registry("method")
register_method = METHODS.register

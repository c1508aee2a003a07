"""Reading a healthpod export zip back into a pod (see `reader`)."""

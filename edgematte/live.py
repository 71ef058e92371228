LIVE_DEFAULTS = {"refine": "fast", "background": "blur"}

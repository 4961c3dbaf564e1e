"""The Ray-process plumbing around a run, apart from what it evaluates: the engine watch actor that stops a run
whose engine is down (engine_watch.py), the watchdog that ends a run's local Ray with the run (ray_reaper.py), Ray's
own console lines kept out of a run's console (ray_console.py), one Ray job submitted and followed for `ray-eval ci
submit` (ray_job.py), and freed heap handed back to the OS in a long run's driver (malloc.py). This __init__ imports
nothing: the engine watch's actor process loads only its own module."""

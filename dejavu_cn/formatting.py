"""Human formatting of numbers for the command line and the page: no I/O,
no dependencies beyond the standard library."""


def format_duration(seconds):
    """Seconds as ``M:SS.ss`` (``H:MM:SS.ss`` from an hour); negative as 0.

    >>> format_duration(83.456), format_duration(3723.5)
    ('1:23.46', '1:02:03.50')
    """
    seconds = max(0.0, float(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:05.2f}" if hours else f"{minutes}:{secs:05.2f}"


__all__ = ["format_duration"]

"""Human formatting of numbers for the command line and the page: no I/O,
no dependencies beyond the standard library."""


def format_duration(seconds, decimals=2):
    """Seconds as ``M:SS.ss`` (``H:MM:SS.ss`` from an hour), with
    ``decimals`` digits of the second; negative as 0. Rounded before it is
    split, so 59.996 s is ``1:00.00``, never ``0:60.00``.

    >>> format_duration(83.456), format_duration(3723.5), format_duration(59.96, 1)
    ('1:23.46', '1:02:03.50', '1:00.0')
    """
    seconds = round(max(0.0, float(seconds)), decimals)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    width = 3 + decimals if decimals else 2
    return (f"{hours}:{minutes:02d}:{secs:0{width}.{decimals}f}" if hours
            else f"{minutes}:{secs:0{width}.{decimals}f}")


__all__ = ["format_duration"]

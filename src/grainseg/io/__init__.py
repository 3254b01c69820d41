"""Readers and writers: SEM TIFF with pixel size, EBSD formats, masks; atomic output."""

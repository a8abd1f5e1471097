"""Exports: staff data sets through the access gates, the public aggregate data set, HURIDOCS and Uwazi."""

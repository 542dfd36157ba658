// Keeps iocore_test_support a valid library while the support directory is empty.

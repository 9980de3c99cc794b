/* Every crafted shared library: what matters is how it is linked, not what it contains. */
int crafted_library(void) { return 0; }

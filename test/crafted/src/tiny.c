/* A freestanding shared object (no libc), for foreign-class or foreign-machine copies. */
int crafted_foreign(void) { return 0; }

/* Every crafted executable: what matters is how it is linked, not what it does. */
int main(void) { return 0; }

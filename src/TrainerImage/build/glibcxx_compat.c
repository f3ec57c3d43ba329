/*
 * Defines std::ios_base_library_init(), the one GLIBCXX_3.4.32 (GCC 13) symbol that
 * libLibTorchSharp.so needs. In GCC 13's libstdc++ it is an empty function whose only purpose
 * is to create a link-time dependency that makes the iostreams get initialised; older
 * libstdc++ (Debian bookworm: GLIBCXX_3.4.30) initialises them unconditionally.
 * The mangled name is used so this builds as plain C.
 */
void _ZSt21ios_base_library_initv(void) {}

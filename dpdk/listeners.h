#ifndef PODWIRE_LISTENERS_H
#define PODWIRE_LISTENERS_H

int pw_pmd_listener(const char *path);
int pw_release_pmd_listener(int fd, const char *path);

#endif

#ifndef DELTASEAL_BUILD_INFO_H
#define DELTASEAL_BUILD_INFO_H
/* The git commit the executables were built from (Package.swift passes it as a define). */
const char *deltaseal_git_commit(void);
#endif

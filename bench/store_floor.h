/*
 * store_floor.h -- SQLite's own cost of an append (store_floor.c), for
 * store_append --floor, and the process's CPU time both of them read.
 */
#ifndef STORE_FLOOR_H
#define STORE_FLOOR_H

/* On the SQLite file at path (made by the store, holding rooms of ten
 * participants: store_append --chat), n appends' statements in
 * transactions of batch, then n inserts alone; prints one line with the
 * process's CPU per append of each.  0, or -1 with the reason on stderr. */
int store_floor(const char *path, int n, int batch);

/* This process's CPU time (user + system, all threads) in seconds. */
double store_cpu_s(void);

#endif

/*
 * `kakurid --restore` is kakurid-restore (restore.c), a program of its
 * own that boot pays less for; kakurid executes it from its own folder.
 */
#ifndef KD_RESTORE_H
#define KD_RESTORE_H

/*
 * Executes kakurid-restore, beside kakurid's own executable, with argv;
 * returns only if it could not (then kakurid restores in-process).
 */
void kd_restore_exec(char **argv);

#endif

/*
 * The control socket's client side (kakurid's control.c is the other):
 * length-prefixed JSON frames over the UNIX socket, one request and one
 * answer, or an answer followed by a stream of frames (the log).
 * Functions return an exit status (EX_*) and say what went wrong on
 * stderr, as the commands that use them would.
 */
#ifndef KAKURICTL_CLIENT_H
#define KAKURICTL_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ctl.h"

/* Connects and sends req (not consumed); *fdp on EX_DONE. */
int ctl_send(struct ctl *c, json_t *req, int *fdp);
/* One request (consumed), one answer: a refusal is printed (EX_FAILED). */
int ctl_call(struct ctl *c, json_t *req, json_t **resp);
/* EX_DONE if the answer says ok; otherwise prints the refusal: EX_FAILED. */
int ctl_check_ok(struct ctl *c, json_t *resp);

/* Frames one after the other from one connection. */
struct ctl_stream;
struct ctl_stream *ctl_stream_new(int fd);
/* The next frame (caller frees); a negative errno at the end or on error. */
int ctl_stream_frame(struct ctl_stream *s, uint8_t **body, size_t *len);
/* The stream's first frame as the answer object, checked as ctl_call does. */
int ctl_stream_answer(struct ctl *c, struct ctl_stream *s, json_t **resp);
/* Closes the connection too. */
void ctl_stream_free(struct ctl_stream *s);

#endif

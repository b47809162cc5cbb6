/*
 * chat.h — the conversation ("chat template") formats of DeepSeek-V3, DeepSeek-R1 and the
 * DeepSeek-R1-Distill models (Qwen and Llama), rendered in C.
 *
 * A model file's chat_template is untrusted Jinja; whale never evaluates it. The template
 * text (and the vocabulary's special tokens) only select one of the families below,
 * each of which is a fixed renderer that reproduces the official template's output
 * byte for byte (docs/TOKENIZER.md, "Chat format"). Anything not recognised is rendered
 * in a documented plain format and reported, so the caller can warn.
 *
 * Conventions as in whale.h: functions that can fail return WH_OK or a negative
 * wh_status and fill the wh_error; returned buffers are released with wh_free().
 *
 * The declarations live in whale.h (section "chat format").
 */
#ifndef WH_TOKENIZER_CHAT_H
#define WH_TOKENIZER_CHAT_H

#include "whale.h"

#endif

/*
 * tokenizer.h — the tokenizer's public API lives in whale.h (section "tokenizer");
 * this header stays so library files can name their layer's interface.
 */
#ifndef WH_TOKENIZER_TOKENIZER_H
#define WH_TOKENIZER_TOKENIZER_H

#include "whale.h"

#endif

/*
 * sample.c — next-token sampling. Order of operations: logit bias, penalties
 * (repetition: CTRL/HF; presence and frequency: OpenAI), temperature, top-k,
 * softmax, top-p (nucleus, Holtzman et al. 2019), min-p, then one draw from a
 * seeded xoshiro256** stream, so the same seed gives the same text.
 */
#include "runtime/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "whale.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void wh_rng_seed(wh_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t wh_rng_next(wh_rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

double wh_rng_uniform(wh_rng *r)
{
    return (double)(wh_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

typedef struct cand {
    int32_t id;
    float logit;
    float p;
} cand;

struct wh_sampler {
    wh_sampler_params p;
    wh_logit_bias *bias; /* own copy */
    int vocab;
    wh_rng rng;
    cand *c;        /* [vocab] */
    int32_t *count; /* [vocab] occurrences in the penalty window */
};

wh_sampler_params wh_sampler_defaults(void)
{
    wh_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 0.0f;
    p.top_p = 1.0f;
    p.repetition_penalty = 1.0f;
    return p;
}

int wh_sampler_new(const wh_sampler_params *p, int vocab, wh_sampler **out, wh_error *err)
{
    *out = NULL;
    if (vocab <= 0)
        return wh_err(err, WH_E_INVALID, "sampler: vocabulary size %d", vocab);
    if (!(p->temperature >= 0.0f) || !(p->top_p > 0.0f && p->top_p <= 1.0f) || p->top_k < 0 ||
        !(p->min_p >= 0.0f && p->min_p <= 1.0f) || !(p->repetition_penalty > 0.0f) ||
        !isfinite(p->presence_penalty) || !isfinite(p->frequency_penalty) ||
        p->penalty_last_n < 0 || p->n_logit_bias < 0)
        return wh_err(err, WH_E_INVALID,
                      "sampler: temperature >= 0, 0 < top_p <= 1, top_k >= 0, 0 <= min_p <= 1, "
                      "repetition_penalty > 0 are required");
    for (int i = 0; i < p->n_logit_bias; i++)
        if (p->logit_bias[i].token < 0 || p->logit_bias[i].token >= vocab)
            return wh_err(err, WH_E_INVALID, "sampler: logit_bias token %d is outside 0..%d",
                          p->logit_bias[i].token, vocab - 1);
    wh_sampler *s = wh_calloc(1, sizeof *s);
    if (s == NULL)
        return wh_err(err, WH_E_NOMEM, "sampler: out of memory");
    s->p = *p;
    s->vocab = vocab;
    s->c = wh_calloc((size_t)vocab, sizeof *s->c);
    s->count = wh_calloc((size_t)vocab, sizeof *s->count);
    if (p->n_logit_bias > 0) {
        s->bias = wh_calloc((size_t)p->n_logit_bias, sizeof *s->bias);
        if (s->bias != NULL)
            memcpy(s->bias, p->logit_bias, (size_t)p->n_logit_bias * sizeof *s->bias);
    }
    if (s->c == NULL || s->count == NULL || (p->n_logit_bias > 0 && s->bias == NULL)) {
        wh_sampler_free(s);
        return wh_err(err, WH_E_NOMEM, "sampler: out of memory");
    }
    s->p.logit_bias = s->bias;
    wh_rng_seed(&s->rng, p->seed);
    *out = s;
    return WH_OK;
}

void wh_sampler_free(wh_sampler *s)
{
    if (s == NULL)
        return;
    wh_free(s->c);
    wh_free(s->count);
    wh_free(s->bias);
    wh_free(s);
}

static int by_logit_desc(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit > y->logit ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void apply_penalties(wh_sampler *s, float *logits, const int32_t *hist, int n)
{
    const wh_sampler_params *p = &s->p;
    if (p->repetition_penalty == 1.0f && p->presence_penalty == 0.0f &&
        p->frequency_penalty == 0.0f)
        return;
    int from = p->penalty_last_n > 0 && n > p->penalty_last_n ? n - p->penalty_last_n : 0;
    for (int i = from; i < n; i++)
        if (hist[i] >= 0 && hist[i] < s->vocab)
            s->count[hist[i]]++;
    for (int i = from; i < n; i++) {
        int32_t t = hist[i];
        if (t < 0 || t >= s->vocab || s->count[t] == 0)
            continue;
        float l = logits[t];
        if (p->repetition_penalty != 1.0f)
            l = l > 0 ? l / p->repetition_penalty : l * p->repetition_penalty;
        l -= p->presence_penalty + p->frequency_penalty * (float)s->count[t];
        logits[t] = l;
        s->count[t] = 0; /* each distinct token once; also resets the table */
    }
}

int32_t wh_sampler_sample(wh_sampler *s, float *logits, const int32_t *hist, int n_hist)
{
    const wh_sampler_params *p = &s->p;
    int V = s->vocab;
    for (int i = 0; i < p->n_logit_bias; i++)
        logits[p->logit_bias[i].token] += p->logit_bias[i].bias;
    apply_penalties(s, logits, hist, n_hist);
    if (p->temperature == 0.0f)
        return wh_argmax(logits, V);

    /* candidates, optionally limited to the top k */
    int n = 0;
    for (int i = 0; i < V; i++) {
        if (logits[i] == -INFINITY || logits[i] != logits[i])
            continue;
        s->c[n].id = i;
        s->c[n].logit = logits[i] / p->temperature;
        n++;
    }
    if (n == 0)
        return wh_argmax(logits, V);
    qsort(s->c, (size_t)n, sizeof *s->c, by_logit_desc);
    if (p->top_k > 0 && p->top_k < n)
        n = p->top_k;
    double sum = 0.0;
    float mx = s->c[0].logit;
    for (int i = 0; i < n; i++) {
        s->c[i].p = expf(s->c[i].logit - mx);
        sum += s->c[i].p;
    }
    for (int i = 0; i < n; i++)
        s->c[i].p = (float)(s->c[i].p / sum);
    if (p->top_p < 1.0f) {
        double cum = 0.0;
        for (int i = 0; i < n; i++) {
            cum += s->c[i].p;
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        float floor_p = p->min_p * s->c[0].p;
        int k = 1;
        while (k < n && s->c[k].p >= floor_p)
            k++;
        n = k;
    }
    double total = 0.0;
    for (int i = 0; i < n; i++)
        total += s->c[i].p;
    double u = wh_rng_uniform(&s->rng) * total, acc = 0.0;
    for (int i = 0; i < n; i++) {
        acc += s->c[i].p;
        if (u < acc)
            return s->c[i].id;
    }
    return s->c[n - 1].id;
}

"""The trainable models: causal (padding after the read-out cannot matter), Mamba's parallel scan
equals the sequential recurrence, DSS's convolution equals its diagonal recurrence, sizes from the
arrays, and bad names get a one-line error."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import models
from experiments.models import PositionalModel, positional_embedding

VOCAB, L = 7, 9


def _run(name, f):
    """Mamba's ``init``/``apply`` jitted: eagerly each operation of its scans runs as its own small
    program (init measured 34 s eager, 9 s jitted, 2 cores under load). The other models eagerly:
    their small operations' compilations are shared between the tests."""
    return jax.jit(f) if name == "mamba" else f


@pytest.fixture(scope="module", params=models.MODELS)
def built(request):
    m = models.build(request.param, vocab=VOCAB, max_len=L, width=8, layers=2, classes=3)
    tok = jnp.zeros((2, L), jnp.int32)
    params = _run(request.param, m.init)(jax.random.PRNGKey(0), tok, jnp.full((2,), L, jnp.int32))["params"]
    return request.param, m, params


def test_padding_after_readout_does_not_change_logits(built):
    name, m, params = built
    rng = np.random.default_rng(1)
    lengths = np.array([3, 5, 9, 1], dtype=np.int32)
    a = rng.integers(0, VOCAB, size=(4, L)).astype(np.int32)
    b = a.copy()
    for i, ell in enumerate(lengths):
        b[i, ell:] = rng.integers(0, VOCAB, size=L - ell)
    apply = _run(name, m.apply)
    la = apply({"params": params}, a, lengths)
    lb = apply({"params": params}, b, lengths)
    np.testing.assert_allclose(np.asarray(la), np.asarray(lb), rtol=1e-5, atol=1e-5)
    # ...while the tokens before the read-out do matter (the check above can fail)
    c = a.copy()
    c[:, 0] = (c[:, 0] + 1) % VOCAB
    assert not np.allclose(np.asarray(apply({"params": params}, c, lengths)), np.asarray(la))


def test_size_counts_the_arrays(built):
    name, m, params = built
    s = models.size(m, params)
    leaves = jax.tree_util.tree_leaves(params)
    assert s["params"] == sum(int(np.prod(x.shape)) for x in leaves)
    assert 0 < s["params_no_embed"] < s["params"]
    flat = {
        "/".join(str(getattr(k, "key", k)) for k in p): x for p, x in jax.tree_util.tree_flatten_with_path(params)[0]
    }
    if name == "lstm":  # the carry of flax's LSTM cell: (c, h), each [B, w], per layer
        carry = nn.OptimizedLSTMCell(8).initialize_carry(jax.random.PRNGKey(0), (1, 8))
        assert s["state_size"] == 2 * sum(int(np.prod(c.shape)) for c in carry)
    if name == "mamba":  # SSM state d_in × N plus the conv window (kernel - 1) × d_in, per layer
        expect = sum(
            int(np.prod(flat[f"mamba{i}/A_log"].shape))
            + (flat[f"mamba{i}/conv/kernel"].shape[0] - 1) * flat[f"mamba{i}/conv/kernel"].shape[2]
            for i in range(2)
        )
        assert s["state_size"] == expect
    if name == "lintf":  # per layer and head: S (dk × dv) and z (dk), shapes from the q/k/v kernels
        expect = 0
        for i in range(2):
            _, heads, dk = flat[f"k{i}/kernel"].shape
            assert flat[f"q{i}/kernel"].shape[1:] == (heads, dk)
            expect += heads * dk * flat[f"v{i}/kernel"].shape[2] + heads * dk
        assert s["state_size"] == expect == 2 * (4 * 2 * 2 + 4 * 2)
    if name == "dss":  # complex modes: 2 reals each
        assert s["state_size"] == sum(2 * int(np.prod(flat[f"ssm{i}/a_im"].shape)) for i in range(2))


@pytest.mark.parametrize("name", models.MODELS)
def test_parameters_are_float32_and_the_same_with_x64_on(name):
    """A process may run with jax_enable_x64 on (``JAX_ENABLE_X64``, or inside
    ``constructions.float64_scope()``); the trained models must not change with it: same float32 initial parameters, bit for
    bit, and a forward pass that runs."""
    m = models.build(name, vocab=VOCAB, max_len=L, width=8, layers=2, classes=3)
    tok, lengths = jnp.zeros((2, L), jnp.int32), jnp.full((2,), L, jnp.int32)
    leaves = {}
    for x64 in (False, True):
        with jax.enable_x64(x64):
            params = _run(name, m.init)(jax.random.PRNGKey(0), tok, lengths)
            leaves[x64] = jax.tree_util.tree_leaves(params)
            assert np.all(np.isfinite(np.asarray(_run(name, m.apply)(params, tok, lengths))))
    assert all(a.dtype == jnp.float32 for a in leaves[True])
    assert all(np.array_equal(a, b) for a, b in zip(leaves[False], leaves[True]))


def test_mamba_scan_equals_numpy_recurrence():
    rng = np.random.default_rng(0)
    b, length, d, N = 2, 11, 3, 4
    x, dt = rng.normal(size=(b, length, d)), rng.uniform(0.01, 0.5, size=(b, length, d))
    A = -rng.uniform(0.5, 2, size=(d, N))
    B, C = rng.normal(size=(b, length, N)), rng.normal(size=(b, length, N))
    y = np.asarray(models.selective_scan(*(jnp.asarray(v, jnp.float32) for v in (x, dt, A, B, C))))
    h = np.zeros((b, d, N))
    for t in range(length):
        h = np.exp(dt[:, t, :, None] * A) * h + (dt[:, t] * x[:, t])[:, :, None] * B[:, t, None, :]
        np.testing.assert_allclose(y[:, t], np.einsum("bdn,bn->bd", h, C[:, t]), rtol=1e-4, atol=1e-4)


def test_causal_depthwise_conv_is_flax_grouped_conv():
    """Same parameters (names, shapes, initial values) and the same function as the flax grouped
    convolution it replaces; and causal: x_t for t > s never reaches y_s."""
    import flax.linen as nn

    d, k = 5, 4
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 9, d)), jnp.float32)
    ours = models.CausalDepthwiseConv(d, k)
    ref = nn.Conv(d, (k,), padding=[(k - 1, 0)], feature_group_count=d)
    p = ours.init(jax.random.PRNGKey(3), x)
    p_ref = ref.init(jax.random.PRNGKey(3), x)
    assert jax.tree_util.tree_structure(p) == jax.tree_util.tree_structure(p_ref)
    np.testing.assert_array_equal(p["params"]["kernel"], p_ref["params"]["kernel"])
    p = {"params": {"kernel": p["params"]["kernel"], "bias": jnp.arange(d, dtype=jnp.float32)}}
    np.testing.assert_allclose(ours.apply(p, x), ref.apply(p, x), rtol=1e-5, atol=1e-5)
    y = ours.apply(p, x)
    y2 = ours.apply(p, x.at[:, 6:].set(100.0))
    np.testing.assert_array_equal(y[:, :6], y2[:, :6])


def test_dss_convolution_equals_diagonal_recurrence():
    k = models.S4DKernel(width=3, state=4)
    u = jnp.asarray(np.random.default_rng(0).normal(size=(2, 10, 3)), jnp.float32)
    p = k.init(jax.random.PRNGKey(0), u)["params"]
    y = np.asarray(k.apply({"params": p}, u))
    A = -np.exp(np.asarray(p["log_a_re"], np.float64)) + 1j * np.asarray(p["a_im"], np.float64)
    dtA = np.exp(np.asarray(p["log_dt"], np.float64))[:, None] * A
    C = np.asarray(p["c"][..., 0], np.float64) + 1j * np.asarray(p["c"][..., 1], np.float64)
    Bbar = (np.exp(dtA) - 1) / A
    h = np.zeros((2, 3, 2), complex)
    un = np.asarray(u, np.float64)
    for t in range(10):
        h = np.exp(dtA) * h + Bbar * un[:, t, :, None]
        expect = 2 * np.einsum("hn,bhn->bh", C, h).real + un[:, t] * np.asarray(p["d"])
        np.testing.assert_allclose(y[:, t], expect, rtol=1e-4, atol=1e-4)


def test_bad_model_names_and_sizes():
    with pytest.raises(models.ModelError, match="unknown model 'gru'"):
        models.build("gru", vocab=4, max_len=4, width=8, layers=1, classes=2)
    with pytest.raises(models.ModelError, match="width must be an integer >= 1"):
        models.build("lstm", vocab=4, max_len=4, width=0, layers=1, classes=2)
    with pytest.raises(models.ModelError, match="divisible by its 4 heads"):
        models.build("tf", vocab=4, max_len=4, width=6, layers=1, classes=2)


@pytest.mark.parametrize("length", [1, 5, 16, 37])
def test_selective_scan_values_and_gradients_equal_the_plain_scan(length):
    """The segmented scan with its hand-written backward pass against the one-step-per-position
    scan differentiated by JAX: values and all five gradients, at lengths below, at and not a
    multiple of the segment length (the zero-padded tail must not leak into any gradient)."""
    rng = np.random.default_rng(length)
    b, d, N = 3, 5, 4
    x = jnp.asarray(rng.normal(size=(b, length, d)), jnp.float32)
    dt = jnp.asarray(rng.uniform(0.01, 0.8, size=(b, length, d)), jnp.float32)
    A = jnp.asarray(-rng.uniform(0.5, 4, size=(d, N)), jnp.float32)
    B, C = (jnp.asarray(rng.normal(size=(b, length, N)), jnp.float32) for _ in range(2))
    W = jnp.asarray(rng.normal(size=(b, length, d)), jnp.float32)  # a generic cotangent
    args = (x, dt, A, B, C)
    # jitted: compiled as one program each (eager, every scan step's operations dispatch alone)
    np.testing.assert_allclose(
        jax.jit(models.selective_scan)(*args), jax.jit(models.selective_scan_reference)(*args), rtol=1e-5, atol=1e-5
    )
    grads = [
        jax.jit(jax.grad(lambda *a, f=f: jnp.sum(f(*a) * W), argnums=(0, 1, 2, 3, 4)))(*args)
        for f in (models.selective_scan, models.selective_scan_reference)
    ]
    for name, mine, ref in zip(("x", "dt", "A", "B", "C"), *grads):
        assert mine.shape == ref.shape and mine.dtype == ref.dtype, name
        np.testing.assert_allclose(mine, ref, rtol=1e-4, atol=1e-4 * float(jnp.max(jnp.abs(ref))), err_msg=name)


def test_selective_scan_under_jit_and_vmap():
    rng = np.random.default_rng(1)
    x, dt = rng.normal(size=(2, 3, 20, 4)), rng.uniform(0.01, 0.5, size=(2, 3, 20, 4))
    A = -rng.uniform(0.5, 2, size=(4, 2))
    B, C = rng.normal(size=(2, 3, 20, 2)), rng.normal(size=(2, 3, 20, 2))
    f = jax.jit(
        jax.vmap(jax.grad(lambda *a: models.selective_scan(*a).sum(), argnums=(0, 2)), in_axes=(0, 0, None, 0, 0))
    )
    g = jax.vmap(
        jax.grad(lambda *a: models.selective_scan_reference(*a).sum(), argnums=(0, 2)), in_axes=(0, 0, None, 0, 0)
    )
    cast = [jnp.asarray(v, jnp.float32) for v in (x, dt, A, B, C)]
    for mine, ref in zip(f(*cast), g(*cast)):
        np.testing.assert_allclose(mine, ref, rtol=1e-4, atol=1e-4)


class _FlaxAttentionTransformer(PositionalModel):
    """The ``tf`` model as it was before its attention was written out (flax's
    ``MultiHeadDotProductAttention``; the last layer with its one read-out query): the reference."""

    @nn.compact
    def __call__(self, tokens, lengths):
        x = positional_embedding(self, tokens)
        mask = nn.make_causal_mask(tokens)
        for i in range(self.layers):
            h = nn.LayerNorm(name=f"ln_attn{i}")(x)
            attn = nn.MultiHeadDotProductAttention(num_heads=self.heads, name=f"attn{i}")
            if i < self.layers - 1:
                x = x + attn(h, h, mask=mask)
            else:
                x = models._last(x, lengths)[:, None]
                keep = jnp.arange(tokens.shape[1])[None, :] < lengths[:, None]
                x = x + attn(models._last(h, lengths)[:, None], h, mask=keep[:, None, None, :])
            h = nn.LayerNorm(name=f"ln_mlp{i}")(x)
            h = nn.Dense(4 * self.width, name=f"mlp_in{i}")(h)
            x = x + nn.Dense(self.width, name=f"mlp_out{i}")(nn.gelu(h))
        x = nn.LayerNorm(name="ln_final")(x)
        return nn.Dense(self.classes, name="readout")(x[:, 0])


def _batch(rng, batch, length, vocab):
    tokens = jnp.asarray(rng.integers(0, vocab, size=(batch, length)), jnp.int32)
    lengths = jnp.asarray(rng.integers(1, length + 1, size=batch), jnp.int32)
    return tokens, lengths


@pytest.mark.parametrize("layers", [1, 2])
def test_transformer_equals_flax_attention(layers):
    """Same parameters (names, shapes, initial values) and the same logits as the flax-attention
    model; on perturbed (non-initial: biases nonzero) parameters as well."""
    kw = dict(vocab=VOCAB, max_len=L, width=16, layers=layers, classes=3)
    ours, ref = models.Transformer(**kw), _FlaxAttentionTransformer(**kw)
    rng = np.random.default_rng(layers)
    tokens, lengths = _batch(rng, 6, L, VOCAB)
    p = ours.init(jax.random.PRNGKey(5), tokens, lengths)["params"]
    p_ref = ref.init(jax.random.PRNGKey(5), tokens, lengths)["params"]
    assert jax.tree_util.tree_structure(p) == jax.tree_util.tree_structure(p_ref)
    for a, b in zip(jax.tree_util.tree_leaves(p), jax.tree_util.tree_leaves(p_ref)):
        np.testing.assert_array_equal(a, b)
    p = jax.tree_util.tree_map(lambda a: a + 0.3 * jnp.asarray(rng.normal(size=a.shape), a.dtype), p)
    np.testing.assert_allclose(
        ours.apply({"params": p}, tokens, lengths), ref.apply({"params": p}, tokens, lengths), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("chunk", [1, 4, 11, 32])
def test_causal_linear_attention_equals_recurrence(chunk):
    """The chunked form (one chunk, several, the last one padded, one position each) against the
    recurrent form in float64 numpy:
    ``S_t = S_{t-1} + k_t v_tᵀ``, ``z_t = z_{t-1} + k_t``, ``o_t = q_t S_t / (q_t·z_t + eps)``."""
    rng = np.random.default_rng(0)
    b, length, H, dk, dv = 2, 11, 3, 4, 5
    q, k = (rng.uniform(0.05, 2.0, size=(b, length, H, dk)) for _ in range(2))
    v = rng.normal(size=(b, length, H, dv))
    o = np.asarray(models.causal_linear_attention(*(jnp.asarray(a, jnp.float32) for a in (q, k, v)), chunk=chunk))
    S, z = np.zeros((b, H, dk, dv)), np.zeros((b, H, dk))
    for t in range(length):
        S += np.einsum("bhd,bhe->bhde", k[:, t], v[:, t])
        z += k[:, t]
        expect = np.einsum("bhd,bhde->bhe", q[:, t], S) / (np.einsum("bhd,bhd->bh", q[:, t], z)[..., None] + 1e-6)
        np.testing.assert_allclose(o[:, t], expect, rtol=1e-5, atol=1e-6)


def ln(x, q):
    """flax's LayerNorm (eps 1e-6) in numpy, parameters ``q``."""
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-6) * q["scale"] + q["bias"]


def gelu(x):
    """flax's default GELU (the tanh approximation) in numpy."""
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def _lintf_recurrent(p, tokens, lengths, layers):
    """The linear Transformer run left to right with its state (S, z) per layer and head, every
    layer at every position (no read-out shortcut), logits read at ``lengths - 1``: numpy."""
    P = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), p)

    def phi(x):
        return np.where(x > 0, x + 1, np.exp(x))

    tok = np.asarray(tokens)
    x = P["embed_token"]["embedding"][tok] + P["embed_position"]["embedding"][: tok.shape[1]][None]
    for i in range(layers):
        h = ln(x, P[f"ln_attn{i}"])
        q, k, v = (np.einsum("blw,whd->blhd", h, P[f"{n}{i}"]["kernel"]) + P[f"{n}{i}"]["bias"] for n in "qkv")
        S = np.zeros(q.shape[:1] + q.shape[2:] + v.shape[3:])
        z = np.zeros(q.shape[:1] + q.shape[2:])
        o = np.zeros_like(v)
        for t in range(tok.shape[1]):
            S += np.einsum("bhd,bhe->bhde", phi(k[:, t]), v[:, t])
            z += phi(k[:, t])
            qt = phi(q[:, t])
            o[:, t] = np.einsum("bhd,bhde->bhe", qt, S) / ((qt * z).sum(-1)[..., None] + 1e-6)
        x = x + np.einsum("blhd,hdw->blw", o, P[f"o{i}"]["kernel"]) + P[f"o{i}"]["bias"]
        h = ln(x, P[f"ln_mlp{i}"])
        h = gelu(h @ P[f"mlp_in{i}"]["kernel"] + P[f"mlp_in{i}"]["bias"])
        x = x + h @ P[f"mlp_out{i}"]["kernel"] + P[f"mlp_out{i}"]["bias"]
    x = ln(x, P["ln_final"])[np.arange(tok.shape[0]), np.asarray(lengths) - 1]
    return x @ P["readout"]["kernel"] + P["readout"]["bias"]


def _retention_recurrent(q, k, v, gamma):
    """``S_t = γ S_{t-1} + k_t v_tᵀ``, ``o_t = q_t·S_t`` per head, float64 numpy."""
    b, length, H, dk = q.shape
    S = np.zeros((b, H, dk, v.shape[-1]))
    o = np.zeros(v.shape)
    for t in range(length):
        S = gamma[None, :, None, None] * S + np.einsum("bhd,bhe->bhde", k[:, t], v[:, t])
        o[:, t] = np.einsum("bhd,bhde->bhe", q[:, t], S)
    return o


@pytest.mark.parametrize("chunk", [1, 4, 11, 32])
def test_retention_equals_recurrence(chunk):
    """The chunkwise retention (one chunk, several, the last padded) against the recurrence; decays
    far from 1 as well, so a wrong power of γ shows."""
    rng = np.random.default_rng(1)
    b, length, H, dk, dv = 2, 11, 3, 4, 5
    q, k, v = (rng.normal(size=(b, length, H, d)) for d in (dk, dk, dv))
    gamma = np.array([0.5, 0.9, 0.99])
    o = models.retention(*(jnp.asarray(a, jnp.float32) for a in (q, k, v, gamma)), chunk=chunk)
    np.testing.assert_allclose(np.asarray(o), _retention_recurrent(q, k, v, gamma), rtol=1e-4, atol=1e-4)


def _retnet_recurrent(p, tokens, lengths, layers, heads=4):
    """The RetNet model run left to right with its state per layer and head, every layer at every
    position (no chunks, no read-out shortcut), logits read at ``lengths - 1``: numpy."""
    P = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), p)

    tok = np.asarray(tokens)
    B, L = tok.shape
    x = P["embed_token"]["embedding"][tok] + P["embed_position"]["embedding"][:L][None]
    w = x.shape[-1]
    dh = w // heads
    gamma = 1.0 - 2.0 ** (-5.0 - np.arange(heads))
    for i in range(layers):
        h = ln(x, P[f"ln_ret{i}"])
        q, k, v, g = (h @ P[f"{n}{i}"]["kernel"] for n in "qkvg")
        o = _retention_recurrent(*(a.reshape(B, L, heads, dh) for a in (q / np.sqrt(dh), k, v)), gamma)
        o = ln(o, P[f"gn{i}"]).reshape(B, L, w) * (g / (1 + np.exp(-g)))
        x = x + o @ P[f"o{i}"]["kernel"]
        h = gelu(ln(x, P[f"ln_mlp{i}"]) @ P[f"mlp_in{i}"]["kernel"] + P[f"mlp_in{i}"]["bias"])
        x = x + h @ P[f"mlp_out{i}"]["kernel"] + P[f"mlp_out{i}"]["bias"]
    x = ln(x, P["ln_final"])[np.arange(B), np.asarray(lengths) - 1]
    return x @ P["readout"]["kernel"] + P["readout"]["bias"]


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("name", ["lintf", "retnet"])
def test_chunked_model_equals_its_recurrence(name, layers):
    """The whole ``lintf`` / ``retnet`` model (chunked attention below the last layer, read-out
    position only in the last) against the same parameters run as a recurrence in float64 numpy
    (every layer at every position), on perturbed parameters and a length over one chunk."""
    recurrent = {"lintf": _lintf_recurrent, "retnet": _retnet_recurrent}[name]
    length = models.ATTENTION_CHUNK + 9
    m = models.build(name, vocab=VOCAB, max_len=length, width=16, layers=layers, classes=3)
    rng = np.random.default_rng(layers)
    tokens, lengths = _batch(rng, 6, length, VOCAB)
    p = m.init(jax.random.PRNGKey(0), tokens, lengths)["params"]
    p = jax.tree_util.tree_map(lambda a: a + 0.3 * jnp.asarray(rng.normal(size=a.shape), a.dtype), p)
    np.testing.assert_allclose(
        np.asarray(m.apply({"params": p}, tokens, lengths)),
        recurrent(p, tokens, lengths, layers),
        rtol=1e-4,
        atol=1e-4,
    )


def test_dss_readout_position_equals_the_whole_convolution():
    """``S4DKernel(u, lengths)`` is the full convolution's output at ``lengths - 1`` (on perturbed
    parameters: the skip weight d starts at 1)."""
    k = models.S4DKernel(width=3, state=4)
    rng = np.random.default_rng(2)
    u = jnp.asarray(rng.normal(size=(4, 10, 3)), jnp.float32)
    p = k.init(jax.random.PRNGKey(0), u)["params"]
    p = jax.tree_util.tree_map(lambda a: a + 0.3 * jnp.asarray(rng.normal(size=a.shape), a.dtype), p)
    lengths = jnp.asarray([1, 4, 9, 10], jnp.int32)
    full = np.asarray(k.apply({"params": p}, u))
    np.testing.assert_allclose(
        np.asarray(k.apply({"params": p}, u, lengths)),
        full[np.arange(4), np.asarray(lengths) - 1],
        rtol=1e-5,
        atol=1e-5,
    )

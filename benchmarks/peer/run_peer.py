"""The peer pipeline: a standard LlamaIndex RAG over the seed articles, run in its own venv.

    <peer-venv>/bin/python benchmarks/peer/run_peer.py ingest --embed-path P --seed-dir D
    <peer-venv>/bin/python benchmarks/peer/run_peer.py answer --embed-path P --llm-path L \
        --seed-dir D --facts F --out answers.jsonl [--ids a,b,c]
    <peer-venv>/bin/python benchmarks/peer/run_peer.py serve --embed-path P --llm-path L --seed-dir D

Started by `benchmarks/bench_peer.py`, which passes every path on the command line:
this script imports nothing from `qa` (the peer venv does not have it). It is
LlamaIndex's standard pipeline with the same models as qa:
`SimpleDirectoryReader` -> `VectorStoreIndex.from_documents` (SentenceSplitter,
in-memory `SimpleVectorStore`) -> `as_query_engine(similarity_top_k=4)` (default
"compact" synthesizer and chat QA prompt, the model's chat template), greedy
decoding; follow-up questions go through the standard
`CondenseQuestionChatEngine` with the earlier turns as chat history.

`ingest` prints one JSON line of timings (process start -> ready index, cold).
`answer` loads the models, times warm ingestion (`--ingest-reps` times), then asks
every fact and writes one JSON line per answer to `--out`, then a `meta` line.
`serve` loads the models, prints a `ready` JSON line, then reads one JSON command a
line on stdin and answers each with one JSON line on stdout, so the benchmark can
interleave the two pipelines question by question: {"cmd": "ingest"} builds a fresh
index (and keeps it) and returns its seconds (with "persist_dir", also the seconds
to write it there); {"cmd": "ask", "fact": {...}} returns
the answer row; {"cmd": "meta"} returns versions, load times and configuration.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("ingest", "answer", "serve"))
    p.add_argument("--embed-path", required=True, help="sentence-transformers folder (MiniLM)")
    p.add_argument("--llm-path", help="transformers folder of the answering model")
    p.add_argument("--seed-dir", required=True, help="folder of the articles to index")
    p.add_argument("--facts", help="facts JSONL (id, question, history)")
    p.add_argument("--ids", default="", help="comma-separated fact ids to ask (default: all)")
    p.add_argument("--out", help="answers JSONL to write")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--chunk-size", type=int, default=128, help="SentenceSplitter chunk size (tokens)")
    p.add_argument("--chunk-overlap", type=int, default=32)
    p.add_argument("--top-k", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--ingest-reps", type=int, default=5)
    return p.parse_args()


GENERATE_CALLS: list[dict[str, float]] = []


def record_generate(model) -> None:
    """Note prompt and new token counts and seconds of each `model.generate` (nothing else changes)."""
    inner = model.generate

    def generate(*a, **kw):
        t = time.perf_counter()
        out = inner(*a, **kw)
        prompt = kw["input_ids"].shape[1] if "input_ids" in kw else a[0].shape[1]
        GENERATE_CALLS.append({"prompt_tokens": prompt, "new_tokens": out.shape[1] - prompt,
                               "seconds": time.perf_counter() - t})
        return out

    model.generate = generate


def setup(args: argparse.Namespace, with_llm: bool) -> dict[str, float]:
    """Import LlamaIndex, load the models into `Settings`; returns the seconds each step took."""
    times: dict[str, float] = {}
    t = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    from llama_index.core import Settings
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    times["import_s"] = time.perf_counter() - t
    t = time.perf_counter()
    Settings.embed_model = HuggingFaceEmbedding(model_name=args.embed_path, device="cpu")
    Settings.embed_model.get_text_embedding("warm up")
    times["embed_load_s"] = time.perf_counter() - t
    Settings.node_parser = SentenceSplitter(chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap)
    if with_llm:
        from llama_index.llms.huggingface import HuggingFaceLLM

        t = time.perf_counter()
        Settings.llm = HuggingFaceLLM(
            model_name=args.llm_path,
            tokenizer_name=args.llm_path,
            device_map="cpu",
            model_kwargs={"dtype": torch.float32},
            max_new_tokens=args.max_new_tokens,
            generate_kwargs={"do_sample": False},
            is_chat_model=True,  # prompts go through the tokenizer's chat template
        )
        times["llm_load_s"] = time.perf_counter() - t
        record_generate(Settings.llm._model)
    return times


def build_index(seed_dir: str):
    """Documents from the folder to a ready in-memory index (LlamaIndex's standard path)."""
    from llama_index.core import SimpleDirectoryReader, VectorStoreIndex

    documents = SimpleDirectoryReader(seed_dir).load_data()
    return VectorStoreIndex.from_documents(documents)


def node_info(nodes) -> list[dict]:
    out = []
    for n in nodes:
        node = n.node
        out.append({"doc_id": os.path.splitext(node.metadata.get("file_name", ""))[0],
                    "text": node.get_content(), "score": round(float(n.score or 0.0), 4),
                    "start": node.start_char_idx, "end": node.end_char_idx})
    return out


def ingest(args: argparse.Namespace) -> None:
    times = setup(args, with_llm=False)
    t = time.perf_counter()
    index = build_index(args.seed_dir)
    times["ingest_s"] = time.perf_counter() - t
    times["nodes"] = len(index.docstore.docs)
    times["cold_total_s"] = time.perf_counter() - _T0
    print(json.dumps(times))


def ask_fact(engine, fact: dict) -> dict:
    """One question through the query engine (a follow-up through the condense chat engine)."""
    from llama_index.core import QueryBundle
    from llama_index.core.chat_engine import CondenseQuestionChatEngine
    from llama_index.core.llms import ChatMessage, MessageRole

    question, history = fact["question"], fact.get("history") or []
    GENERATE_CALLS.clear()
    t0 = time.perf_counter()
    row: dict = {"id": fact["id"], "question": question}
    if history:
        chat_history = []
        for turn in history:
            chat_history.append(ChatMessage(role=MessageRole.USER, content=turn["question"]))
            chat_history.append(ChatMessage(role=MessageRole.ASSISTANT, content=turn["answer"]))
        chat = CondenseQuestionChatEngine.from_defaults(query_engine=engine, chat_history=chat_history)
        response = chat.chat(question)
        row["timings"] = {"total": time.perf_counter() - t0}
        nodes = response.source_nodes
    else:
        bundle = QueryBundle(question)
        nodes = engine.retrieve(bundle)
        t1 = time.perf_counter()
        response = engine.synthesize(bundle, nodes)
        t2 = time.perf_counter()
        row["timings"] = {"retrieve": t1 - t0, "generate": t2 - t1, "total": t2 - t0}
    row["answer"] = str(response.response or "").strip()
    row["passages"] = node_info(nodes)
    row["generate_calls"] = list(GENERATE_CALLS)
    return row


def versions_and_config(args: argparse.Namespace) -> dict:
    from importlib.metadata import version

    names = ("llama-index-core", "llama-index-embeddings-huggingface", "llama-index-llms-huggingface",
             "transformers", "sentence-transformers", "torch", "accelerate", "tokenizers")
    return {
        "versions": {n: version(n) for n in names},
        "config": {"reader": "SimpleDirectoryReader (default metadata)",
                   "node_parser": f"SentenceSplitter(chunk_size={args.chunk_size}, "
                                  f"chunk_overlap={args.chunk_overlap})",
                   "vector_store": "SimpleVectorStore (default, in memory)",
                   "similarity_top_k": args.top_k, "response_mode": "compact (default)",
                   "prompt": "default CHAT_TEXT_QA_PROMPT through the tokenizer's chat template",
                   "max_new_tokens": args.max_new_tokens, "do_sample": False, "dtype": "float32",
                   "threads": args.threads, "follow_ups": "CondenseQuestionChatEngine (default prompt)"},
    }


def serve(args: argparse.Namespace) -> None:
    """Answer JSON commands from stdin, one JSON line each on stdout (see the module docstring)."""
    out = sys.stdout
    sys.stdout = sys.stderr  # anything a library prints must not corrupt the protocol
    times = setup(args, with_llm=True)
    index = build_index(args.seed_dir)  # first build (warms NLTK/tiktoken caches); not reported
    engine = index.as_query_engine(similarity_top_k=args.top_k)
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        if cmd["cmd"] == "quit":
            break
        if cmd["cmd"] == "ingest":
            t = time.perf_counter()
            index = build_index(args.seed_dir)
            reply = {"ingest_s": time.perf_counter() - t, "nodes": len(index.docstore.docs)}
            if cmd.get("persist_dir"):  # qa writes its index to disk; time the same for the peer
                t = time.perf_counter()
                index.storage_context.persist(persist_dir=cmd["persist_dir"])
                reply["persist_s"] = time.perf_counter() - t
            engine = index.as_query_engine(similarity_top_k=args.top_k)
        elif cmd["cmd"] == "ask":
            reply = ask_fact(engine, cmd["fact"])
        elif cmd["cmd"] == "meta":
            reply = {**times, **versions_and_config(args), "nodes": len(index.docstore.docs)}
        else:
            reply = {"error": f"unknown command {cmd['cmd']!r}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def answer(args: argparse.Namespace) -> None:
    times = setup(args, with_llm=True)
    reps = []
    for _ in range(max(1, args.ingest_reps)):
        t = time.perf_counter()
        index = build_index(args.seed_dir)
        reps.append(time.perf_counter() - t)
    t = time.perf_counter()
    persist_dir = os.path.join(os.path.dirname(os.path.abspath(args.out)), "peer-index")
    index.storage_context.persist(persist_dir=persist_dir)
    persist_s = time.perf_counter() - t
    engine = index.as_query_engine(similarity_top_k=args.top_k)
    with open(args.facts, encoding="utf-8") as lines:
        facts = [json.loads(line) for line in lines if line.strip()]
    wanted = [i for i in args.ids.split(",") if i]
    if wanted:
        facts = [f for f in facts if f["id"] in set(wanted)]
    started = time.perf_counter()
    with open(args.out, "w", encoding="utf-8") as out:
        for number, fact in enumerate(facts, 1):
            row = ask_fact(engine, fact)
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(f"peer {number}/{len(facts)} {row['timings']['total']:.1f}s {fact['id']}: "
                  f"{row['answer'][:70]!r}", file=sys.stderr, flush=True)
        meta = {
            "meta": True, **times, **versions_and_config(args),
            "ingest_warm_s": reps, "ingest_warm_s_median": statistics.median(reps),
            "persist_s": persist_s, "nodes": len(index.docstore.docs),
            "answer_wall_s": time.perf_counter() - started,
        }
        out.write(json.dumps(meta) + "\n")


def main() -> None:
    args = parse_args()
    if args.mode == "ingest":
        ingest(args)
    elif args.mode == "serve":
        if not args.llm_path:
            sys.exit("serve needs --llm-path")
        serve(args)
    else:
        if not (args.llm_path and args.facts and args.out):
            sys.exit("answer needs --llm-path, --facts and --out")
        answer(args)


if __name__ == "__main__":
    main()

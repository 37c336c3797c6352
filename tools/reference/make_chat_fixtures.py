#!/usr/bin/env python3
"""Writes tests/fixtures/chat_templates/: real chat templates (*.jinja) and the
text Transformers renders from them (expected.json), for
tests/runtime/generate/chat_template_test.cc.

Run with ~/.cache/kiln-ref/bin/python (jinja2 3.1.6, transformers 5.x):

    ~/.cache/kiln-ref/bin/python tools/reference/make_chat_fixtures.py

Rendering goes through transformers' own render_jinja_template (the helper
behind tokenizer.apply_chat_template), i.e. ImmutableSandboxedEnvironment
(trim_blocks=True, lstrip_blocks=True) with its raise_exception, tojson and
strftime_now; nothing is downloaded.

Template sources:
  - meta-llama Llama-3.1-8B / Llama-3.2-3B Instruct, google gemma-2-2b-it,
    Qwen2.5-7B-Instruct: models/templates/*.jinja in the llama-cpp-python
    0.3.16 sdist (pip download --no-deps --no-binary :all:
    llama-cpp-python==0.3.16), read from its tarball;
  - Mistral-7B-Instruct v0.1 (original) / v0.2 (with system prompt) / v0.3:
    as quoted in that sdist's vendor/llama.cpp/tests/test-chat-template.cpp;
  - SmolLM2-Instruct, Meta-Llama-3-Instruct, Llama-2-chat, zephyr-7b-beta
    (= TinyLlama-1.1B-Chat): the tokenizer_config.json chat_template of each
    model card, copied below.
OPT has no chat template.
"""

import json
import os
import sys
import tarfile

from transformers.utils.chat_template_utils import render_jinja_template

SDIST = os.path.expanduser("~/.cache/kiln/references/llama_cpp_python-0.3.16.tar.gz")
SDIST_TEMPLATES = "llama_cpp_python-0.3.16/vendor/llama.cpp/models/templates/"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "chat_templates")

FROM_SDIST = {
    "llama3_1": "meta-llama-Llama-3.1-8B-Instruct.jinja",
    "llama3_2": "meta-llama-Llama-3.2-3B-Instruct.jinja",
    "gemma": "google-gemma-2-2b-it.jinja",
    "qwen2_5": "Qwen-Qwen2.5-7B-Instruct.jinja",
}

INLINE = {
    # HuggingFaceTB/SmolLM2-135M-Instruct (also 360M, 1.7B).
    "smollm2": (
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
        "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    # meta-llama/Meta-Llama-3-8B-Instruct.
    "llama3": (
        "{% set loop_messages = messages %}{% for message in loop_messages %}"
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim"
        " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
    ),
    # meta-llama/Llama-2-7b-chat-hf (the JSON's "\\n" is the template's \n escape).
    "llama2": (
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
        "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
        "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if loop.index0 == 0 and system_message != false %}"
        "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
        "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
        "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
        "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
    ),
    # HuggingFaceH4/zephyr-7b-beta and TinyLlama/TinyLlama-1.1B-Chat-v1.0.
    "zephyr": (
        "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n"
        "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
        "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
        "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
    ),
    # mistralai/Mistral-7B-Instruct-v0.1 / v0.2 as first published (no system role), also Mixtral-8x7B-Instruct.
    "mistral_v1_legacy": (
        "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
    ),
    # mistralai/Mistral-7B-Instruct-v0.1 / v0.2, updated template with an optional system prompt.
    "mistral_v1": (
        "{%- if messages[0]['role'] == 'system' %}\n"
        "    {%- set system_message = messages[0]['content'] %}\n"
        "    {%- set loop_messages = messages[1:] %}\n"
        "{%- else %}\n"
        "    {%- set loop_messages = messages %}\n"
        "{%- endif %}\n"
        "\n"
        "{{- bos_token }}\n"
        "{%- for message in loop_messages %}\n"
        "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
        "        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}\n"
        "    {%- endif %}\n"
        "    {%- if message['role'] == 'user' %}\n"
        "        {%- if loop.first and system_message is defined %}\n"
        "            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n"
        "        {%- else %}\n"
        "            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n"
        "        {%- endif %}\n"
        "    {%- elif message['role'] == 'assistant' %}\n"
        "        {{- ' ' + message['content'] + eos_token}}\n"
        "    {%- else %}\n"
        "        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}\n"
        "    {%- endif %}\n"
        "{%- endfor %}\n"
    ),
    # mistralai/Mistral-7B-Instruct-v0.3 (the 'v3' template, shared with Mistral-Large-Instruct-2407).
    "mistral_v3": (
        "{%- if messages[0][\"role\"] == \"system\" %}\n"
        "    {%- set system_message = messages[0][\"content\"] %}\n"
        "    {%- set loop_messages = messages[1:] %}\n"
        "{%- else %}\n"
        "    {%- set loop_messages = messages %}\n"
        "{%- endif %}\n"
        "{%- if not tools is defined %}\n"
        "    {%- set tools = none %}\n"
        "{%- endif %}\n"
        "{%- set user_messages = loop_messages | selectattr(\"role\", \"equalto\", \"user\") | list %}\n"
        "\n"
        "{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}\n"
        "{%- set ns = namespace() %}\n"
        "{%- set ns.index = 0 %}\n"
        "{%- for message in loop_messages %}\n"
        "    {%- if not (message.role == \"tool\" or message.role == \"tool_results\" or (message.tool_calls is defined and message.tool_calls is not none)) %}\n"
        "        {%- if (message[\"role\"] == \"user\") != (ns.index % 2 == 0) %}\n"
        "            {{- raise_exception(\"After the optional system message, conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
        "        {%- endif %}\n"
        "        {%- set ns.index = ns.index + 1 %}\n"
        "    {%- endif %}\n"
        "{%- endfor %}\n"
        "\n"
        "{{- bos_token }}\n"
        "{%- for message in loop_messages %}\n"
        "    {%- if message[\"role\"] == \"user\" %}\n"
        "        {%- if tools is not none and (message == user_messages[-1]) %}\n"
        "            {{- \"[AVAILABLE_TOOLS] [\" }}\n"
        "            {%- for tool in tools %}\n"
        "                {%- set tool = tool.function %}\n"
        "                {{- '{\"type\": \"function\", \"function\": {' }}\n"
        "                {%- for key, val in tool.items() if key != \"return\" %}\n"
        "                    {%- if val is string %}\n"
        "                        {{- '\"' + key + '\": \"' + val + '\"' }}\n"
        "                    {%- else %}\n"
        "                        {{- '\"' + key + '\": ' + val|tojson }}\n"
        "                    {%- endif %}\n"
        "                    {%- if not loop.last %}\n"
        "                        {{- \", \" }}\n"
        "                    {%- endif %}\n"
        "                {%- endfor %}\n"
        "                {{- \"}}\" }}\n"
        "                {%- if not loop.last %}\n"
        "                    {{- \", \" }}\n"
        "                {%- else %}\n"
        "                    {{- \"]\" }}\n"
        "                {%- endif %}\n"
        "            {%- endfor %}\n"
        "            {{- \"[/AVAILABLE_TOOLS]\" }}\n"
        "            {%- endif %}\n"
        "        {%- if loop.last and system_message is defined %}\n"
        "            {{- \"[INST] \" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}\n"
        "        {%- else %}\n"
        "            {{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}\n"
        "        {%- endif %}\n"
        "    {%- elif message.tool_calls is defined and message.tool_calls is not none %}\n"
        "        {{- \"[TOOL_CALLS] [\" }}\n"
        "        {%- for tool_call in message.tool_calls %}\n"
        "            {%- set out = tool_call.function|tojson %}\n"
        "            {{- out[:-1] }}\n"
        "            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}\n"
        "                {{- raise_exception(\"Tool call IDs should be alphanumeric strings with length 9!\") }}\n"
        "            {%- endif %}\n"
        "            {{- ', \"id\": \"' + tool_call.id + '\"}' }}\n"
        "            {%- if not loop.last %}\n"
        "                {{- \", \" }}\n"
        "            {%- else %}\n"
        "                {{- \"]\" + eos_token }}\n"
        "            {%- endif %}\n"
        "        {%- endfor %}\n"
        "    {%- elif message[\"role\"] == \"assistant\" %}\n"
        "        {{- \" \" + message[\"content\"]|trim + eos_token}}\n"
        "    {%- elif message[\"role\"] == \"tool_results\" or message[\"role\"] == \"tool\" %}\n"
        "        {%- if message.content is defined and message.content.content is defined %}\n"
        "            {%- set content = message.content.content %}\n"
        "        {%- else %}\n"
        "            {%- set content = message.content %}\n"
        "        {%- endif %}\n"
        "        {{- '[TOOL_RESULTS] {\"content\": ' + content|string + \", \" }}\n"
        "        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}\n"
        "            {{- raise_exception(\"Tool call IDs should be alphanumeric strings with length 9!\") }}\n"
        "        {%- endif %}\n"
        "        {{- '\"call_id\": \"' + message.tool_call_id + '\"}[/TOOL_RESULTS]' }}\n"
        "    {%- else %}\n"
        "        {{- raise_exception(\"Only user and assistant roles are supported, with the exception of an initial optional system message!\") }}\n"
        "    {%- endif %}\n"
        "{%- endfor %}\n"
    ),
}

# Special tokens each model's tokenizer passes to its template.
TOKENS = {
    "smollm2": {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"},
    "qwen2_5": {"eos_token": "<|im_end|>"},
    "llama3": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama3_1": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama3_2": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "date_string": "26 Jul 2024"},
    "llama2": {"bos_token": "<s>", "eos_token": "</s>"},
    "mistral_v1_legacy": {"bos_token": "<s>", "eos_token": "</s>"},
    "mistral_v1": {"bos_token": "<s>", "eos_token": "</s>"},
    "mistral_v3": {"bos_token": "<s>", "eos_token": "</s>"},
    "gemma": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "zephyr": {"bos_token": "<s>", "eos_token": "</s>"},
}


# Language snippets that pin Jinja semantics the templates above lean on
# (rendered over CONVERSATIONS["multi_turn"] with bos/eos tokens).
SNIPPETS = [
    "a\n  {% if true %}\n  b\n  {% endif %}\nc\n",
    "  {%- if true %} x {% endif -%}  \n y",
    "{% for m in messages %}\n  {{ m.role }}\n{% endfor %}\n",
    "x  {# comment #}\n  {#- c2 -#}  y\n  {# c3 #}\nz",
    "{{ 'a' }}\n{{ 'b' -}}\n  {{- 'c' }}\n",
    "  {%+ if true %}kept{% endif +%}\nline",
    "{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.length }}/{{ loop.first }}/{{ loop.last }};{% endfor %}",
    "{% for m in messages if m.role == 'user' %}{{ loop.index }}:{{ m.content }}|{% endfor %}",
    "{% for m in messages %}{% if loop.index0 == 2 %}{% break %}{% endif %}{% if loop.first %}{% continue %}{% endif %}{{ m.role }}{% endfor %}",
    "{% for x in [] %}no{% else %}empty{% endfor %}",
    "{% set x = 1 %}{% for i in [1,2,3] %}{{ x }}{% set x = x + 10 %}{{ x }},{% endfor %}{{ x }}",
    "{% for i in [1,2,3] %}{% if i == 1 %}{% set y = 5 %}{% endif %}{{ y }},{% endfor %}",
    "{% set ns = namespace(n=0, s='') %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% set ns.s = ns.s ~ m.role[0] %}{% endfor %}{{ ns.n }} {{ ns.s }}",
    "{{ messages[1:3] | length }} {{ messages[-1].content }} {{ messages[::2] | map(attribute='role') | join(',') }}",
    "{{ 'héllo wörld'[1:4] }} {{ 'abc'[::-1] }} {{ 'abc'[-1] }} {{ [1,2,3][5:] }}",
    "{{ 7 % 3 }} {{ -7 % 3 }} {{ 7 // -2 }} {{ 2 ** 10 }} {{ 3 * 'ab' }} {{ 1 + 2 * 3 - 4 }} {{ -(3) }}",
    "{{ 1 == true }} {{ 0 == false }} {{ 'a' < 'b' }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ [1,2] == [1,2] }} {{ none == none }}",
    "{{ 'ell' in 'hello' }} {{ 'x' not in 'hello' }} {{ 2 in [1,2] }} {{ 'role' in messages[0] }} {{ 'zz' in messages[0] }}",
    "{{ undefined_thing }}|{{ undefined_thing is defined }}|{{ undefined_thing is not defined }}|{{ not undefined_thing }}",
    "{{ none }} {{ true }} {{ false }} {{ None }} {{ True }} {{ [1, 'a', none, true] }} {{ {'k': 'v', 'n': 1} }} {{ ('t', 1) }}",
    "{{ \"it's\" }} {{ 'say \"hi\"' }} {{ ['it\\'s'] }} {{ 'a\\tb\\nc' }} {{ '\\u00e9\\x41' }} {{ 'un\\known' }}",
    "{{ 'x' if true else 'y' }}{{ 'x' if false else 'y' }}[{{ 'x' if false }}]{{ 'a' if none is none }}",
    "{{ 0 or 'b' }} {{ 'a' and 'b' }} {{ '' and 'b' }}|{{ none or '' }}|{{ [] or [1] }}",
    "{{ '  pad  ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'Hi' | upper }}{{ 'Hi' | lower }}|{{ 'hello WORLD' | capitalize }}",
    "{{ messages | length }} {{ 'héllo' | length }} {{ messages | first | tojson }} {{ (messages | last).role }} {{ 'abc' | list }}",
    "{{ messages[0] | tojson }}|{{ messages[:2] | tojson(indent=2) }}|{{ 'ü\"\\n' | tojson }}|{{ [none, true, 3] | tojson }}",
    "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(' / ') }}",
    "{{ messages | rejectattr('role', 'equalto', 'user') | list | length }} {{ [1, 0, 2, none] | select | list }} {{ [1,2,3,4] | reject('odd') | list }}",
    "{{ {'b': 1, 'a': 2} | items | list }} {% for k, v in {'x': 1, 'y': 2}.items() %}{{ k }}={{ v }};{% endfor %}",
    "{{ 'a,b,,c'.split(',') }} {{ '  a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ ' x '.strip() }}|{{ ' x '.lstrip() }}|{{ ' x '.rstrip() }}|",
    "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'a-b'.replace('-', '+') }} {{ ', '.join(['a', 'b']) }}",
    "{{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ messages[0].get('role') }} {{ messages[0].get('nope', 'dflt') }} {{ messages[0].keys() | list }}",
    "{{ x | default('dflt') }} {{ '' | default('dflt') }} {{ '' | default('dflt', true) }} {{ '42' | int + 1 }} {{ 'x' | int }} {{ 5 | string ~ '!' }}",
    "{{ none is none }} {{ 'a' is string }} {{ 1 is string }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ messages is iterable }} {{ messages[0] is mapping }} {{ 1 is number }} {{ 'a' is sequence }}",
    "{{ messages[0]['content'] | trim + '!' }} {{ bos_token ~ eos_token }} {{ bos_token + eos_token | length | string }}",
    "{% for i in range(3) %}{{ i }}{% endfor %} {{ range(2, 10, 3) | list }} {{ range(5) | reverse | list }} {{ 'abc' | reverse }}",
    "{% if messages %}{% if messages | length > 2 %}long{% elif messages | length > 1 %}two{% else %}one{% endif %}{% endif %}",
    "{% for m in messages %}{% for c in m.role %}{% if loop.first %}{{ c | upper }}{% endif %}{% endfor %}{{ loop.previtem.role if loop.previtem is defined else '-' }}{% endfor %}",
    "{{ 'x' ~ 1 ~ none ~ true }} {{ 'ab' * 0 }}|{{ [1] + [2] }} {{ -3 | abs }} {{ 'a' 'b' }}",
    "\r\nwin\r\nlines\rold mac\n\n",
]


def msg(role, content):
    return {"role": role, "content": content}


CONVERSATIONS = {
    "single_user": [msg("user", "Hello!")],
    "system_user": [msg("system", "You are a terse assistant."), msg("user", "What is 2+2?")],
    "multi_turn": [
        msg("system", "You are a helpful assistant"),
        msg("user", "Hello"),
        msg("assistant", "Hi there"),
        msg("user", "Who are you"),
        msg("assistant", "   I am an assistant   "),
        msg("user", "Another question"),
    ],
    "multi_turn_no_system": [
        msg("user", "Hello"),
        msg("assistant", "Hi there"),
        msg("user", "Tell me a joke."),
    ],
    "unicode": [
        msg("user", "Grüß dich! 你好 🙂 — «ça va?»"),
        msg("assistant", "Très bien ✓ ありがとう"),
        msg("user", "\u00a0ñ\u3000"),
    ],
    "jinja_like_content": [
        msg("user", "{{ bos_token }} {% if true %}x{% endif %} {# c #} raise_exception('no')"),
        msg("assistant", "{%- for m in messages %}{{ m }}{% endfor -%}"),
        msg("user", "'quotes' \"double\" \\ backslash"),
    ],
    "whitespace_content": [
        msg("system", "\n  padded system  \n"),
        msg("user", "\tline one\r\nline two\n\n"),
        msg("assistant", " "),
        msg("user", ""),
    ],
    "assistant_last": [msg("user", "Finish this: once upon"), msg("assistant", "a time")],
    "roles_not_alternating": [msg("user", "one"), msg("user", "two")],
    "unknown_role": [msg("user", "hi"), msg("tool_output", "data")],
    "empty": [],
}


def render(template, messages, add_generation_prompt, strings):
    try:
        rendered, _ = render_jinja_template(
            conversations=[messages], chat_template=template, add_generation_prompt=add_generation_prompt, **strings
        )
        return {"expected": rendered[0]}
    except Exception as e:  # the template's raise_exception, or a Jinja error
        return {"error": str(e), "error_type": type(e).__name__}


def main():
    templates = {}
    with tarfile.open(SDIST) as tar:
        for name, path in FROM_SDIST.items():
            templates[name] = tar.extractfile(SDIST_TEMPLATES + path).read().decode("utf-8")
    templates.update(INLINE)

    os.makedirs(OUT, exist_ok=True)
    cases = []
    for name in sorted(templates):
        with open(os.path.join(OUT, name + ".jinja"), "w", encoding="utf-8", newline="") as f:
            f.write(templates[name])
        for conv_name, messages in CONVERSATIONS.items():
            for agp in (True, False):
                case = {
                    "template": name,
                    "conversation": conv_name,
                    "add_generation_prompt": agp,
                    "strings": TOKENS[name],
                }
                case.update(render(templates[name], messages, agp, TOKENS[name]))
                cases.append(case)
    snippets = []
    for source in SNIPPETS:
        case = {"source": source}
        case.update(render(source, CONVERSATIONS["multi_turn"], True, {"bos_token": "<s>", "eos_token": "</s>"}))
        snippets.append(case)
    # Llama 3.1 without date_string falls back to its built-in date.
    case = {"template": "llama3_1", "conversation": "system_user", "add_generation_prompt": True, "strings": {}}
    case.update(render(templates["llama3_1"], CONVERSATIONS["system_user"], True, {}))
    cases.append(case)

    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"conversations": CONVERSATIONS, "cases": cases, "snippets": snippets}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    errors = sum("error" in c for c in cases)
    print(f"{len(templates)} templates, {len(cases)} cases ({errors} raise errors), {len(snippets)} snippets"
          f" -> {os.path.normpath(OUT)}")
    for s in snippets:
        if "error" in s:
            print("snippet error:", repr(s["source"]), s["error"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

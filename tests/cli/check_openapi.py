#!/usr/bin/env python3
"""Checks docs/openapi.yaml, on its own and against the daemon's code.

On its own: it parses, says openapi 3.0.x, every operation has responses (each with a
description), path templates and path parameters agree, operationIds are unique, every
$ref resolves, every schema is a valid JSON Schema and every example fits its schema.

Against orchestrator/daemon/api.cpp: the routes (each `path == "..."` and the session
path regex with its actions) and their methods, the query parameters each handler reads,
the body fields each handler accepts, the keys of the JSON each answer is built with, and
every status the code can answer with are the ones the spec describes, no more and no
fewer.

Usage: check_openapi.py [SOURCE_DIR]   (default: the checkout this script is in)
Exit 0 when everything agrees, 1 with one line per problem otherwise.
"""

import copy
import re
import sys
from pathlib import Path

try:
    import jsonschema
    import yaml
except ImportError as error:  # pragma: no cover - a missing package is the machine's problem
    print(f"check_openapi: {error}; install python3-yaml and python3-jsonschema", file=sys.stderr)
    sys.exit(1)

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# The functions that build JSON answers, and the schemas that describe what they build:
# every key one writes is a property of one of its schemas, and the other way round.
# An answer written around them ({"scenarios": [...]}) is the inline schema of the
# operation named with them.
JSON_SHAPES = {
    "session_json": (["Session"], None),
    "ssh_json": (["SshAccess"], None),
    "plan_session_json": (["PlanSession"], None),
    "scenarios": (["Scenario"], ("/v1/scenarios", "get", "200")),
    "health": (["Health"], None),
    "session_action": (["GradeResult", "CheckOutcome"], None),
    "give_hint": (["GivenHint"], None),
    "add_note": (["Note"], None),
    "rate": (["GivenRating"], None),
    "recording": (["RecordingList"], None),
    "timeline": ([], ("/v1/sessions/{id}/timeline", "get", "200")),
    "rubric_criteria_json": (["RubricCriterion"], None),
    "list_sessions": ([], ("/v1/sessions", "get", "200")),
}
# The handlers whose query parameters are read from the code, and the operation each
# serves (route() calls them; this table says where).
QUERY_HANDLERS = {
    "list_sessions": ("/v1/sessions", "get"),
    "report": ("/v1/sessions/{id}/report", "get"),
    "recording": ("/v1/sessions/{id}/recording", "get"),
}
# HTTP-layer statuses (http_server.cpp): not HTTP, body too large, headers too large, too
# many connections, an exception out of a handler.
HTTP_LAYER_STATUSES = {400, 413, 431, 503, 500}


class Problems:
    def __init__(self):
        self.lines = []

    def add(self, where, message):
        self.lines.append(f"{where}: {message}")


# --- the spec on its own ----------------------------------------------------------------


def resolve_pointer(document, ref):
    """The object a local $ref ("#/a/b") points to, or raises KeyError."""
    if not ref.startswith("#/"):
        raise KeyError(f"only local references are supported: {ref}")
    node = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(ref)
    return node


def walk_refs(node, where, found):
    if isinstance(node, dict):
        if "$ref" in node:
            found.append((where, node["$ref"]))
        for key, value in node.items():
            walk_refs(value, f"{where}/{str(key).replace('~', '~0').replace('/', '~1')}", found)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            walk_refs(value, f"{where}/{index}", found)


def deref(spec, node):
    """Follows $ref until a real object (for parameters and responses)."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        if node["$ref"] in seen:
            raise KeyError(f"reference cycle at {node['$ref']}")
        seen.add(node["$ref"])
        node = resolve_pointer(spec, node["$ref"])
    return node


def to_json_schema(spec, schema, stack=()):
    """An OpenAPI 3.0 Schema Object as a plain draft-4 JSON Schema: references inlined,
    `nullable` turned into a null type, OpenAPI-only keywords dropped."""
    if isinstance(schema, list):
        return [to_json_schema(spec, item, stack) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref in stack:
            raise KeyError(f"recursive schema through {ref}")
        return to_json_schema(spec, resolve_pointer(spec, ref), stack + (ref,))
    out = {}
    for key, value in schema.items():
        if key in ("example", "nullable", "readOnly", "writeOnly", "xml", "externalDocs", "deprecated",
                   "discriminator") or key.startswith("x-"):
            continue
        if key == "properties":
            out[key] = {name: to_json_schema(spec, sub, stack) for name, sub in value.items()}
        elif key in ("items", "not", "additionalProperties", "allOf", "oneOf", "anyOf"):
            out[key] = to_json_schema(spec, value, stack)
        else:
            out[key] = copy.deepcopy(value)
    if schema.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = list(out["enum"]) + [None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def check_schema_and_example(spec, schema, example, where, problems):
    try:
        plain = to_json_schema(spec, schema)
    except KeyError as error:
        problems.add(where, f"schema does not resolve: {error}")
        return
    try:
        jsonschema.Draft4Validator.check_schema(plain)
    except jsonschema.SchemaError as error:
        problems.add(where, f"not a valid schema: {error.message}")
        return
    if example is not None:
        errors = sorted(jsonschema.Draft4Validator(plain).iter_errors(example), key=lambda e: list(e.path))
        for error in errors[:3]:
            at = "/".join(str(p) for p in error.path) or "(top)"
            problems.add(where, f"example does not fit its schema at {at}: {error.message}")


def check_parameter(spec, given, param, where, problems):
    """An inline parameter is checked where it stands; a $ref one once, in components."""
    if "$ref" in given:
        return
    where = f"{where} parameter {param.get('name')}"
    if param.get("in") not in ("path", "query", "header", "cookie") or not param.get("name"):
        problems.add(where, "a parameter needs a name and `in` (path, query, header or cookie)")
    if param.get("in") == "path" and param.get("required") is not True:
        problems.add(where, "a path parameter must be required: true")
    if "schema" in param:
        check_schema_and_example(spec, param["schema"], param.get("example"), where, problems)


def check_structure(spec, problems):
    if not isinstance(spec, dict):
        problems.add("openapi.yaml", "the document is not a mapping")
        return
    version = str(spec.get("openapi", ""))
    if not re.fullmatch(r"3\.0\.\d+", version):
        problems.add("openapi", f"must be 3.0.x (got {version!r})")
    info = spec.get("info")
    if not isinstance(info, dict) or not info.get("title") or not info.get("version"):
        problems.add("info", "needs a title and a version")
    paths = spec.get("paths")
    if not isinstance(paths, dict) or not paths:
        problems.add("paths", "missing or empty")
        return

    refs = []
    walk_refs(spec, "#", refs)
    for where, ref in refs:
        try:
            resolve_pointer(spec, ref)
        except (KeyError, ValueError, IndexError):
            problems.add(where, f"$ref does not resolve: {ref}")

    schemes = (spec.get("components") or {}).get("securitySchemes") or {}
    operation_ids = {}
    for path, item in paths.items():
        if not path.startswith("/"):
            problems.add(path, "a path must start with /")
        if not isinstance(item, dict):
            problems.add(path, "a path item must be a mapping")
            continue
        templates = set(re.findall(r"\{([^}]+)\}", path))
        path_params = {}
        for param in item.get("parameters", []):
            try:
                resolved = deref(spec, param)
            except KeyError:
                continue  # reported with the $refs
            path_params[(resolved.get("in"), resolved.get("name"))] = resolved
            check_parameter(spec, param, resolved, path, problems)
        operations = [m for m in METHODS if m in item]
        if not operations:
            problems.add(path, "no operation")
        for method in operations:
            where = f"{method.upper()} {path}"
            operation = item[method]
            if not isinstance(operation, dict):
                problems.add(where, "an operation must be a mapping")
                continue
            operation_id = operation.get("operationId")
            if operation_id:
                if operation_id in operation_ids:
                    problems.add(where, f"operationId {operation_id} is also used by {operation_ids[operation_id]}")
                operation_ids[operation_id] = where
            params = dict(path_params)
            for param in operation.get("parameters", []):
                try:
                    resolved = deref(spec, param)
                except KeyError:
                    continue
                params[(resolved.get("in"), resolved.get("name"))] = resolved
                check_parameter(spec, param, resolved, where, problems)
            declared = {name for (place, name) in params if place == "path"}
            for name in sorted(templates - declared):
                problems.add(where, f"path parameter {{{name}}} is not declared")
            for name in sorted(declared - templates):
                problems.add(where, f"path parameter {name} is declared but not in the path")
            for requirement in operation.get("security", spec.get("security", [])):
                for name in requirement:
                    if name not in schemes:
                        problems.add(where, f"security scheme {name} is not defined")
            responses = operation.get("responses")
            if not isinstance(responses, dict) or not responses:
                problems.add(where, "no responses")
                continue
            for status, response in responses.items():
                status = str(status)
                if not re.fullmatch(r"[1-5](\d\d|XX)|default", status):
                    problems.add(where, f"response key {status!r} is not a status code")
                try:
                    response = deref(spec, response)
                except KeyError:
                    continue
                if not isinstance(response, dict) or not response.get("description"):
                    problems.add(f"{where} {status}", "a response needs a description")
                    continue
                for media, content in (response.get("content") or {}).items():
                    if "schema" in content:
                        check_schema_and_example(spec, content["schema"], content.get("example"),
                                                 f"{where} {status} {media}", problems)
            body = operation.get("requestBody")
            if body is not None:
                body = deref(spec, body)
                for media, content in (body.get("content") or {}).items():
                    if "schema" in content:
                        check_schema_and_example(spec, content["schema"], content.get("example"),
                                                 f"{where} request {media}", problems)

    for name, param in ((spec.get("components") or {}).get("parameters") or {}).items():
        if isinstance(param, dict) and "$ref" not in param:
            check_parameter(spec, {}, param, f"#/components/parameters/{name}", problems)
    for name, schema in ((spec.get("components") or {}).get("schemas") or {}).items():
        check_schema_and_example(spec, schema, schema.get("example") if isinstance(schema, dict) else None,
                                 f"#/components/schemas/{name}", problems)


# --- the code ---------------------------------------------------------------------------


def function_body(source, name):
    """The body of the definition of Api::NAME, or else of the free function NAME; None
    when neither is defined."""
    for prefix in (r"\bApi::", r"^[\w:<>]+[ \t]+"):
        match = re.search(prefix + re.escape(name) + r"\s*\([^;{}]*\)\s*(?:const\s*)?\{", source, re.MULTILINE)
        if match:
            start = match.end() - 1
            end = matching_brace(source, start)
            return source[start:end + 1] if end is not None else None
    return None


def matching_brace(text, open_at):
    """Index of the brace closing the one at open_at (string and char literals skipped)."""
    depth = 0
    index = open_at
    while index < len(text):
        char = text[index]
        if char in "\"'":
            index += 1
            while index < len(text) and text[index] != char:
                index += 2 if text[index] == "\\" else 1
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return None


def braced_block_after(text, pattern):
    """(start, end) of the { ... } block that follows the first match of pattern."""
    match = re.search(pattern, text)
    if not match:
        return None
    start = text.find("{", match.end())
    end = matching_brace(text, start)
    return (match.start(), end + 1) if end is not None else None


def methods_in(text):
    return {m.lower() for m in re.findall(r'\bmethod\s*[!=]=\s*"([A-Z]+)"', text)}


class CodeRoutes:
    def __init__(self):
        self.routes = {}  # path -> set of methods (lower case)
        self.session_prefix = None  # "/v1/sessions/"
        self.id_pattern = None  # "[a-z0-9]{1,32}"


def read_routes(source, problems):
    """Every route in api.cpp with its methods; problems say what could not be read."""
    code = CodeRoutes()
    where = "api.cpp"
    route = function_body(source, "route")
    if route is None:
        problems.add(where, "no Api::route() found; update check_openapi.py to the code's new shape")
        return code

    regex_call = re.search(r"\bregex_match\s*\(", route)
    plain_part = route[:regex_call.start()] if regex_call else route
    literals = list(re.finditer(r'\bpath\s*==\s*"([^"]+)"', plain_part))
    if not literals:
        problems.add(where, "route() compares path with no string literal; update check_openapi.py")
    for index, literal in enumerate(literals):
        end = literals[index + 1].start() if index + 1 < len(literals) else len(plain_part)
        methods = methods_in(plain_part[literal.end():end])
        if not methods:
            problems.add(where, f"no method found for {literal.group(1)}; update check_openapi.py")
        code.routes.setdefault(literal.group(1), set()).update(methods)
    # A path literal compared anywhere else in the file is a route too.
    for literal in re.findall(r'\bpath\s*==\s*"([^"]+)"', source):
        code.routes.setdefault(literal, set())

    pattern = re.search(r'std::regex\s+\w+\s*\(\s*"((?:[^"\\]|\\.)*)"', source)
    if not pattern:
        problems.add(where, "no session path regex found; update check_openapi.py")
        return code
    shape = re.fullmatch(r"\^(?P<prefix>/[^()]*)\((?P<id>[^()]*)\)\(/\((?P<actions>[a-z_|]+)\)\)\?\$", pattern.group(1))
    if not shape:
        problems.add(where, f"the session path regex {pattern.group(1)!r} has a shape this script cannot read; "
                            "update check_openapi.py")
        return code
    code.session_prefix = shape.group("prefix")
    code.id_pattern = shape.group("id")
    actions = shape.group("actions").split("|")
    base = code.session_prefix + "{id}"

    if not regex_call:
        problems.add(where, "route() does not match the session path regex; update check_openapi.py")
        return code
    session_part = route[regex_call.start():]
    remaining = session_part
    base_block = braced_block_after(session_part, r"if\s*\(\s*action\.empty\(\)\s*\)")
    if base_block:
        code.routes[base] = methods_in(session_part[base_block[0]:base_block[1]])
        remaining = remaining.replace(session_part[base_block[0]:base_block[1]], "")
    else:
        problems.add(where, "no `if (action.empty())` block for the session itself; update check_openapi.py")
    handled = set()
    # Positions are in the text as it was before any block was taken out of `remaining`.
    blocks_text = remaining
    for block_match in re.finditer(r'if\s*\(\s*(action\s*==\s*"[a-z_]+"(?:\s*\|\|\s*action\s*==\s*"[a-z_]+")*)\s*\)',
                                   blocks_text):
        names = re.findall(r'"([a-z_]+)"', block_match.group(1))
        block = braced_block_after(blocks_text[block_match.start():], r"\)")
        if not block:
            continue
        text = blocks_text[block_match.start():][block[0]:block[1]]
        for name in names:
            code.routes[f"{base}/{name}"] = methods_in(text)
            handled.add(name)
        remaining = remaining.replace(text, "")
    rest_methods = methods_in(remaining)
    for name in actions:
        if name not in handled:
            code.routes[f"{base}/{name}"] = set(rest_methods)
    for name in handled - set(actions):
        problems.add(where, f"route() handles action {name!r}, which the session path regex does not allow")
    for path, methods in code.routes.items():
        if not methods and path.startswith("/"):
            problems.add(where, f"no method found for {path}; update check_openapi.py")
    return code


def body_fields(source, problems):
    """Operation -> the body fields parse_body() accepts there."""
    fields = {}
    create = function_body(source, "create_session")
    action = function_body(source, "session_action")
    if create is None or action is None:
        problems.add("api.cpp", "create_session() or session_action() not found; update check_openapi.py")
        return fields
    match = re.search(r"parse_body\s*\(\s*request\s*,\s*\{([^}]*)\}", create)
    if match:
        fields[("/v1/sessions", "post")] = set(re.findall(r'"([^"]+)"', match.group(1)))
    else:
        problems.add("api.cpp", "create_session() calls no parse_body(); update check_openapi.py")
    for found in re.finditer(r'action\s*==\s*"([a-z_]+)"\s*\)\s*\{[^{}]*?parse_body\s*\(\s*request\s*,\s*\{([^}]*)\}',
                             action):
        fields[(f"/v1/sessions/{{id}}/{found.group(1)}", "post")] = set(re.findall(r'"([^"]+)"', found.group(2)))
    return fields


def code_statuses(source, http_server):
    statuses = set(int(s) for s in re.findall(r"ApiError\s*\{\s*(\d{3})", source))
    statuses |= set(int(s) for s in re.findall(r"error_response\s*\(\s*\{\s*(\d{3})", source))
    statuses |= set(int(s) for s in re.findall(r"json_response\s*\(\s*(\d{3})", source))
    statuses |= set(int(s) for s in re.findall(r"\bstatus\s*=\s*(\d{3})", source))
    for pair in re.findall(r"\?\s*(\d{3})\s*:\s*(\d{3})", source):  # `up ? 200 : 503`
        statuses |= {int(pair[0]), int(pair[1])}
    statuses |= set(int(s) for s in re.findall(r"plain_error\s*\(\s*(\d{3})", http_server))
    statuses |= set(int(s) for s in re.findall(r"\b(4\d\d)\b", "".join(
        re.findall(r"const int status = [^;]*;", http_server))))
    return statuses | {200}


def nested_properties(spec, schema):
    """Every property name in a schema, its nested objects' included (not through $ref:
    a schema of its own is compared on its own)."""
    names = set()
    if not isinstance(schema, dict) or "$ref" in schema:
        return names
    for name, sub in (schema.get("properties") or {}).items():
        names.add(name)
        names |= nested_properties(spec, sub)
        if isinstance(sub, dict):
            names |= nested_properties(spec, sub.get("items"))
    for sub in schema.get("allOf", []):
        names |= nested_properties(spec, sub)
    return names


def object_properties(spec, schema):
    schema = deref(spec, schema)
    if not isinstance(schema, dict):
        return set()
    props = set((schema.get("properties") or {}).keys())
    for sub in schema.get("allOf", []):
        props |= object_properties(spec, sub)
    return props


def check_against_code(spec, source, http_server, problems):
    code = read_routes(source, problems)
    paths = spec.get("paths") or {}

    def spec_path(code_path):
        """The spec's spelling of a code path: any {name} for the session id."""
        if code.session_prefix and code_path.startswith(code.session_prefix + "{id}"):
            rest = code_path[len(code.session_prefix) + len("{id}"):]
            pattern = re.escape(code.session_prefix) + r"\{[^}/]+\}" + re.escape(rest)
            return next((p for p in paths if re.fullmatch(pattern, p)), None)
        return code_path if code_path in paths else None

    matched = set()
    for code_path, methods in sorted(code.routes.items()):
        found = spec_path(code_path)
        if found is None:
            problems.add(f"route {code_path}", "in api.cpp but not in docs/openapi.yaml")
            continue
        matched.add(found)
        documented = {m for m in METHODS if m in paths[found]}
        for method in sorted(methods - documented):
            problems.add(f"{method.upper()} {found}", "api.cpp serves it; docs/openapi.yaml does not describe it")
        for method in sorted(documented - methods):
            problems.add(f"{method.upper()} {found}", "described in docs/openapi.yaml; api.cpp answers it with 405")
    for path in sorted(set(paths) - matched):
        problems.add(f"path {path}", "in docs/openapi.yaml but api.cpp has no such route")

    # The session id's pattern.
    if code.id_pattern:
        reported = set()
        for path in paths:
            for param in list(paths[path].get("parameters", [])) + [
                    p for m in METHODS if m in paths[path] for p in paths[path][m].get("parameters", [])]:
                key = param.get("$ref") or f"{path} {param.get('name')}"
                param = deref(spec, param)
                if param.get("in") == "path" and key not in reported:
                    reported.add(key)
                    documented = (param.get("schema") or {}).get("pattern")
                    if documented != f"^{code.id_pattern}$":
                        problems.add(f"path parameter {param.get('name')} ({key})",
                                     f"pattern {documented!r}, but api.cpp accepts ^{code.id_pattern}$")

    # Query parameters each handler reads.
    for handler, (path, method) in QUERY_HANDLERS.items():
        body = function_body(source, handler)
        if body is None:
            problems.add("api.cpp", f"no Api::{handler}(); update QUERY_HANDLERS in check_openapi.py")
            continue
        read = set(re.findall(r'\bquery\s*\.\s*(?:count|at|find|contains)\s*\(\s*"([^"]+)"', body))
        read |= set(re.findall(r'\bquery_flag\s*\(\s*request\s*,\s*"([^"]+)"', body))
        found = spec_path(path)
        operation = (paths.get(found) or {}).get(method) if found else None
        if operation is None:
            continue  # reported above
        documented = {deref(spec, p).get("name") for p in operation.get("parameters", [])
                      if deref(spec, p).get("in") == "query"}
        for name in sorted(read - documented):
            problems.add(f"{method.upper()} {found}", f"api.cpp reads query parameter {name!r}; the spec does not list it")
        for name in sorted(documented - read):
            problems.add(f"{method.upper()} {found}", f"the spec lists query parameter {name!r}; api.cpp never reads it")

    # Body fields each handler accepts.
    for (path, method), fields in sorted(body_fields(source, problems).items()):
        found = spec_path(path)
        operation = (paths.get(found) or {}).get(method) if found else None
        if operation is None:
            continue  # reported above
        body = deref(spec, operation.get("requestBody") or {})
        schema = ((body.get("content") or {}).get("application/json") or {}).get("schema")
        if schema is None:
            problems.add(f"{method.upper()} {found}", "api.cpp reads a JSON body; the spec describes none")
            continue
        documented = object_properties(spec, schema)
        for name in sorted(fields - documented):
            problems.add(f"{method.upper()} {found}", f"api.cpp accepts body field {name!r}; the spec does not list it")
        for name in sorted(documented - fields):
            problems.add(f"{method.upper()} {found}", f"the spec lists body field {name!r}; api.cpp refuses it")

    # The keys of the JSON the code builds.
    schemas = (spec.get("components") or {}).get("schemas") or {}
    for function, (names, wrapper) in JSON_SHAPES.items():
        body = function_body(source, function)
        if body is None:
            problems.add("api.cpp", f"no {function}(); update JSON_SHAPES in check_openapi.py")
            continue
        written = set(re.findall(r'\{\s*"(\w+)"\s*,', body)) | set(re.findall(r'\w\["(\w+)"\]\s*=[^=]', body))
        documented = set()
        for name in names:
            if name not in schemas:
                problems.add(f"#/components/schemas/{name}", f"missing; {function}() in api.cpp builds it")
                continue
            documented |= nested_properties(spec, schemas[name])
        if wrapper:
            path, method, status = wrapper
            response = deref(spec, (((paths.get(path) or {}).get(method) or {}).get("responses") or {}).get(status) or {})
            schema = ((response.get("content") or {}).get("application/json") or {}).get("schema") or {}
            documented |= nested_properties(spec, schema)
        names = names + ([f"{wrapper[1].upper()} {wrapper[0]} {wrapper[2]}"] if wrapper else [])
        for key in sorted(written - documented):
            problems.add(f"{function}()", f"api.cpp writes key {key!r}; the spec's {' / '.join(names)} does not have it")
        for key in sorted(documented - written):
            problems.add(f"{function}()", f"the spec's {' / '.join(names)} has {key!r}; api.cpp never writes it")

    # Every status the code can answer with is documented somewhere.
    documented_statuses = set()
    for item in paths.values():
        for method in METHODS:
            for status in ((item.get(method) or {}).get("responses") or {}):
                if str(status).isdigit():
                    documented_statuses.add(int(status))
    for status in sorted(code_statuses(source, http_server) | HTTP_LAYER_STATUSES):
        if status not in documented_statuses:
            problems.add(f"status {status}", "the code can answer with it; no operation in the spec lists it")
    return code


def main(argv):
    source_dir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[2]
    spec_file = source_dir / "docs" / "openapi.yaml"
    api_file = source_dir / "orchestrator" / "daemon" / "api.cpp"
    server_file = source_dir / "orchestrator" / "daemon" / "http_server.cpp"
    problems = Problems()
    try:
        spec = yaml.safe_load(spec_file.read_text())
    except (OSError, yaml.YAMLError) as error:
        print(f"check_openapi: {spec_file}: {error}", file=sys.stderr)
        return 1
    try:
        api_source = api_file.read_text()
        server_source = server_file.read_text()
    except OSError as error:
        print(f"check_openapi: {error}", file=sys.stderr)
        return 1

    check_structure(spec, problems)
    code = None
    if isinstance(spec, dict):
        code = check_against_code(spec, api_source, server_source, problems)

    if problems.lines:
        for line in problems.lines:
            print(f"check_openapi: {line}", file=sys.stderr)
        print(f"check_openapi: {len(problems.lines)} problem(s) in {spec_file}", file=sys.stderr)
        return 1
    routes = len(code.routes) if code else 0
    operations = sum(1 for item in spec["paths"].values() for m in METHODS if m in item)
    print(f"check_openapi: {spec_file.name} is valid OpenAPI {spec['openapi']} and matches api.cpp "
          f"({routes} routes, {operations} operations)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

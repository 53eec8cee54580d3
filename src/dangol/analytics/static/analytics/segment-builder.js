/* The segment rule builder (Alpine.js component `segmentBuilder`).
 *
 * The definition is kept as a tree of groups {type: "group", mode, negate, children} and
 * conditions {type: "cond", field, op, value, value2, values, text, params}; it is shown as a
 * flat list of rows (indented by depth) so Alpine needs no recursive templates. Every edit
 * posts the serialized JSON definition to the preview view (debounced) and shows the count,
 * a masked sample and the validation errors with their paths.
 * Loaded without `defer` so that it registers before Alpine starts.
 */
(function () {
  "use strict";
  let nextId = 1;

  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  document.addEventListener("alpine:init", function () {
    window.Alpine.data("segmentBuilder", function (dataId, previewUrl) {
      const data = JSON.parse(document.getElementById(dataId).textContent);
      const byKey = {};
      const groups = [];
      data.fields.forEach(function (f) {
        byKey[f.key] = f;
        let g = groups.find(function (x) { return x.key === f.group; });
        if (!g) { g = { key: f.group, label: f.group_label, fields: [] }; groups.push(g); }
        g.fields.push(f);
      });

      function group(mode, negate, children) {
        return { id: nextId++, type: "group", mode: mode, negate: negate, children: children };
      }

      function condition(node) {
        const spec = byKey[node.field] || data.fields[0];
        const params = {};
        spec.params.forEach(function (p) {
          params[p.name] = node[p.name] !== undefined ? node[p.name] : (p.default === null ? "" : p.default);
        });
        const value = node.value;
        const c = { id: nextId++, type: "cond", field: spec.key, op: node.op || spec.operators[0].op,
                    value: "", value2: "", values: [], text: "", params: params };
        if (Array.isArray(value)) {
          c.values = value.map(String);
          c.text = value.join(", ");
          c.value = value.length ? String(value[0]) : "";
          c.value2 = value.length > 1 ? String(value[1]) : "";
        } else if (value !== undefined && value !== null) {
          c.value = String(value);
        }
        return c;
      }

      function parse(node) {
        if (node.all) return group("all", false, node.all.map(parse));
        if (node.any) return group("any", false, node.any.map(parse));
        if (node.not) {
          const inner = parse(node.not);
          if (inner.type === "group" && !inner.negate) { inner.negate = true; return inner; }
          return group("all", true, [inner]);
        }
        return condition(node);
      }

      return {
        groups: groups,
        root: parse(data.definition && Object.keys(data.definition).length ? data.definition : { all: [] }),
        count: null,
        sample: [],
        errors: [],
        loading: false,
        failed: false,
        timer: null,
        controller: null,

        init() { this.refresh(); },

        spec(node) { return byKey[node.field] || data.fields[0]; },

        arity(node) {
          const op = this.spec(node).operators.find(function (o) { return o.op === node.op; });
          return op ? op.arity : "none";
        },

        inputType(node) {
          const t = this.spec(node).type;
          return t === "number" ? "number" : t === "date" ? "date" : "text";
        },

        rows() {
          const out = [];
          function walk(node, depth, parent, path) {
            out.push({ node: node, depth: depth, parent: parent, path: path });
            if (node.type === "group") {
              const base = path + (node.negate ? ".not" : "") + "." + node.mode;
              node.children.forEach(function (child, i) { walk(child, depth + 1, node, base + "[" + i + "]"); });
            }
          }
          walk(this.root, 0, null, "definition");
          return out;
        },

        addCondition(g) { g.children.push(condition({ field: "region" })); this.refresh(); },
        addGroup(g) { g.children.push(group("any", false, [condition({ field: "region" })])); this.refresh(); },

        remove(row) {
          if (!row.parent) return;
          row.parent.children = row.parent.children.filter(function (c) { return c !== row.node; });
          this.refresh();
        },

        fieldChanged(node) {
          const spec = this.spec(node);
          node.op = spec.operators[0].op;
          node.value = ""; node.value2 = ""; node.values = []; node.text = "";
          node.params = {};
          spec.params.forEach(function (p) { node.params[p.name] = p.default === null ? "" : p.default; });
          if (spec.options.length) node.value = spec.options[0].value;
        },

        opChanged(node) {
          if (this.arity(node) === "one" && this.spec(node).options.length && !node.value) {
            node.value = this.spec(node).options[0].value;
          }
        },

        serializeNode(node) {
          if (node.type === "group") {
            const self = this;
            const body = {};
            body[node.mode] = node.children.map(function (c) { return self.serializeNode(c); });
            return node.negate ? { not: body } : body;
          }
          const out = { field: node.field, op: node.op };
          const arity = this.arity(node);
          if (arity === "one" || arity === "days") out.value = node.value;
          else if (arity === "range") out.value = [node.value, node.value2];
          else if (arity === "list") {
            out.value = this.spec(node).options.length
              ? node.values.slice()
              : node.text.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
          }
          this.spec(node).params.forEach(function (p) {
            const v = node.params[p.name];
            if (v !== "" && v !== null && v !== undefined && !(p.type === "boolean" && v === false)) out[p.name] = v;
          });
          return out;
        },

        serialize() { return this.serializeNode(this.root); },

        errorFor(path) {
          const hits = this.errors.filter(function (e) { return e.field.indexOf(path + ".") === 0 || e.field === path; });
          return hits.map(function (e) { return e.message; }).join(" ");
        },

        refresh() {
          clearTimeout(this.timer);
          this.timer = setTimeout(() => this.fetchCount(), 400);
        },

        async fetchCount() {
          if (this.controller) this.controller.abort();
          this.controller = new AbortController();
          this.loading = true;
          this.failed = false;
          try {
            const response = await fetch(previewUrl, {
              method: "POST",
              headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
              body: JSON.stringify({ definition: this.serialize() }),
              signal: this.controller.signal,
              credentials: "same-origin",
            });
            const body = await response.json();
            if (response.ok) {
              this.count = body.count; this.sample = body.sample; this.errors = [];
            } else {
              this.count = null; this.sample = []; this.errors = body.errors || [];
            }
          } catch (err) {
            if (err.name !== "AbortError") this.failed = true;
          } finally {
            this.loading = false;
          }
        },
      };
    });
  });
})();

"""A MyST notebook page of the book's shape (a `parameters` cell with PROFILE, then code), for the
tests of the machinery that builds and reruns pages."""


def tiny_page(title: str, code: str) -> str:
    return f"""---
jupytext:
  text_representation: {{extension: .md, format_name: myst, format_version: 0.13}}
kernelspec: {{display_name: Python 3, language: python, name: python3}}
---

# {title}

```{{code-cell}} ipython3
:tags: [parameters]
PROFILE = None
```

```{{code-cell}} ipython3
{code}
```
"""

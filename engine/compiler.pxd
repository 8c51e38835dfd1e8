from falco_engine.evalctx cimport EventCtx, FieldExtractor, Value

cdef class Node:
    cdef bint eval(self, EventCtx ctx) except -1

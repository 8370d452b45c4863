"""Nothing lost: takes kept on disk before their upload until they are heard.

kept_take (a kept take's id and sidecar format), store (the folder of kept takes, sending one
again), resend (the daemon sending them again by itself).
"""
